// Tests for SoftmaxCrossEntropyLoss and NegativeLogLikelihoodLoss (loss.cc).
//
// Small cases compare with NumPy; the script that printed the values (pasted below under the same
// names) is:
//   import numpy as np
//   def fmt(a): return ', '.join('%.9g' % v for v in np.ravel(a))
//   def log_softmax(x):  # over axis 1
//       m = x.max(axis=1, keepdims=True)
//       return (x - m) - np.log(np.exp(x - m).sum(axis=1, keepdims=True))
//   def nll(lp, t, w=None, red='mean', ii=None):
//       N, C = lp.shape[:2]; lp3 = lp.reshape(N, C, -1); t2 = t.reshape(N, -1)
//       keep = np.ones(t2.shape, bool) if ii is None else (t2 != ii)
//       tc = np.where(keep, t2, 0)
//       g = -np.take_along_axis(lp3, tc[:, None, :], axis=1)[:, 0, :]
//       wt = (np.ones(C) if w is None else w)[tc] * keep
//       loss = g * wt
//       if red == 'none': return loss.reshape(t.shape)
//       if red == 'sum': return loss.sum()
//       return loss.sum() / wt.sum()
//   x = ((np.arange(15) * 7 % 11) - 5).reshape(3, 5) * 0.75
//   t = np.array([1, 4, 0]); w = np.array([0.5, 1.0, 2.0, 1.5, 0.25])
//   print('logp', fmt(log_softmax(x)))
//   for red in ('none', 'sum', 'mean'):
//       print('sce', red, fmt(nll(log_softmax(x), t, None, red)))
//       print('sce_w', red, fmt(nll(log_softmax(x), t, w, red)))
//   print('sce_w_ii4 mean', fmt(nll(log_softmax(x), t, w, 'mean', 4)))
//   print('sce_ii0 none', fmt(nll(log_softmax(x), t, None, 'none', 0)))
//   print('sce_ii0 mean', fmt(nll(log_softmax(x), t, None, 'mean', 0)))
//   y = ((np.arange(24) * 5 % 13) - 6).reshape(2, 3, 2, 2) * 0.5
//   ty = np.array([[[0, 2], [-1, 1]], [[2, 2], [1, -1]]]); wy = np.array([1.0, 0.5, 2.0])
//   print('logp_y', fmt(log_softmax(y)))
//   print('sce_y none', fmt(nll(log_softmax(y), ty, wy, 'none', -1)))
//   print('sce_y mean', fmt(nll(log_softmax(y), ty, wy, 'mean', -1)))
//   print('sce_y sum', fmt(nll(log_softmax(y), ty, None, 'sum', -1)))
//   print('nll_x none', fmt(nll(x, t, w, 'none'))); print('nll_x mean', fmt(nll(x, t, w, 'mean')))
//   print('nll_y mean', fmt(nll(y, ty, None, 'mean', -1)))
//   print('nll_y sum', fmt(nll(y, ty, wy, 'sum', -1)))
// Larger cases (long rows, D > one block, several threads) compare with the definition computed
// in double in the test.
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "executor/thread_pool.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/kernels/kernel_test_util.h"

namespace fleet {
namespace {

using ::fleet::testing::MakeTensor;
using ::fleet::testing::RunKernel;
using ::fleet::testing::ToVector;
using ::testing::HasSubstr;

const std::vector<double> kX = {-3.75, 1.5,  -1.5,  3.75,  0.75, -2.25, 3,   0,
                                -3,    2.25, -0.75, -3.75, 1.5,  -1.5,  3.75};  // [3, 5]
const std::vector<int64_t> kT = {1, 4, 0};
const std::vector<double> kW = {0.5, 1.0, 2.0, 1.5, 0.25};
const std::vector<double> kLogP = {-7.64927042, -2.39927042, -5.39927042, -0.149270416,
                                   -3.14927042, -5.67518923, -0.42518923, -3.42518923,
                                   -6.42518923, -1.17518923, -4.61538801, -7.61538801,
                                   -2.36538801, -5.36538801, -0.115388013};

const std::vector<double> kY = {-3, -0.5, 2,    -2, 0.5, 3,   -1, 1.5, -2.5, 0,    2.5, -1.5,
                                1,  -3,   -0.5, 2,  -2,  0.5, 3,  -1,  1.5,  -2.5, 0,   2.5};
const std::vector<int32_t> kTy = {0, 2, -1, 1, 2, 2, 1, -1};  // [2, 2, 2]
const std::vector<double> kWy = {1.0, 0.5, 2.0};
const std::vector<double> kLogPy = {
    -3.57694664,   -3.57694664,   -0.992699153, -3.57694664,  -0.0769466445, -0.0769466445,
    -3.99269915,   -0.0769466445, -3.07694664,  -3.07694664,  -0.492699153,  -3.07694664,
    -0.992699153,  -3.57694664,   -3.57694664,  -0.992699153, -3.99269915,   -0.0769466445,
    -0.0769466445, -3.99269915,   -0.492699153, -3.07694664,  -3.07694664,   -0.492699153};

template <typename T>
Tensor Make(DataType dtype, std::vector<int64_t> shape, const std::vector<double>& v) {
  return MakeTensor<T>(dtype, std::move(shape), std::vector<T>(v.begin(), v.end()));
}
Tensor F32(std::vector<int64_t> shape, const std::vector<double>& v) {
  return Make<float>(DataType::kF32, std::move(shape), v);
}
Tensor I64(std::vector<int64_t> shape, const std::vector<int64_t>& v) {
  return MakeTensor<int64_t>(DataType::kI64, std::move(shape), v);
}

template <typename T>
void ExpectNear(const Tensor& t, const std::vector<double>& expected, double tol) {
  std::vector<T> got = ToVector<T>(t);
  ASSERT_EQ(got.size(), expected.size());
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_NEAR(got[i], expected[i], tol * (1 + std::abs(expected[i]))) << "element " << i;
  }
}

// Runs `op` in f32 and f64 and checks output 0 (and the log_prob output 1 when given).
void Check(const std::string& op, const std::vector<double>& x, std::vector<int64_t> shape,
           const Tensor& labels, const std::vector<double>* weights, const AttrMap& attrs,
           const std::vector<double>& expected, const std::vector<double>* log_prob = nullptr) {
  const int64_t c = shape[1];
  const int outputs = log_prob != nullptr ? 2 : 1;
  {
    std::vector<Tensor> in = {F32(shape, x), labels};
    if (weights != nullptr) in.push_back(F32({c}, *weights));
    auto r = RunKernel(op, in, attrs, outputs);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ((*r)[0].dtype(), DataType::kF32);
    ExpectNear<float>((*r)[0], expected, 1e-6);
    if (log_prob != nullptr) ExpectNear<float>((*r)[1], *log_prob, 1e-6);
  }
  {
    std::vector<Tensor> in = {Make<double>(DataType::kF64, shape, x), labels};
    if (weights != nullptr) in.push_back(Make<double>(DataType::kF64, {c}, *weights));
    auto r = RunKernel(op, in, attrs, outputs);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ((*r)[0].dtype(), DataType::kF64);
    ExpectNear<double>((*r)[0], expected, 1e-8);
    if (log_prob != nullptr) ExpectNear<double>((*r)[1], *log_prob, 1e-8);
  }
}

AttrMap Reduction(const std::string& r) { return {{"reduction", r}}; }

TEST(SoftmaxCrossEntropyLossTest, RowsMatchNumPy) {
  const Tensor t = I64({3}, kT);
  Check("SoftmaxCrossEntropyLoss", kX, {3, 5}, t, nullptr, Reduction("none"),
        {2.39927042, 1.17518923, 4.61538801}, &kLogP);
  Check("SoftmaxCrossEntropyLoss", kX, {3, 5}, t, nullptr, Reduction("sum"), {8.18984766});
  Check("SoftmaxCrossEntropyLoss", kX, {3, 5}, t, nullptr, {}, {2.72994922}, &kLogP);  // mean
  Check("SoftmaxCrossEntropyLoss", kX, {3, 5}, t, &kW, Reduction("none"),
        {2.39927042, 0.293797308, 2.30769401});
  Check("SoftmaxCrossEntropyLoss", kX, {3, 5}, t, &kW, Reduction("sum"), {5.00076173});
  Check("SoftmaxCrossEntropyLoss", kX, {3, 5}, t, &kW, Reduction("mean"), {2.85757813}, &kLogP);
  Check("SoftmaxCrossEntropyLoss", kX, {3, 5}, t, &kW, {{"ignore_index", int64_t{4}}},
        {3.13797628});
  Check("SoftmaxCrossEntropyLoss", kX, {3, 5}, t, nullptr,
        {{"reduction", std::string("none")}, {"ignore_index", int64_t{0}}},
        {2.39927042, 1.17518923, 0});
  Check("SoftmaxCrossEntropyLoss", kX, {3, 5}, t, nullptr, {{"ignore_index", int64_t{0}}},
        {1.78722982});
}

TEST(SoftmaxCrossEntropyLossTest, SpatialDimsWithI32LabelsMatchNumPy) {
  const Tensor t = MakeTensor<int32_t>(DataType::kI32, {2, 2, 2}, kTy);
  const AttrMap none = {{"reduction", std::string("none")}, {"ignore_index", int64_t{-1}}};
  Check("SoftmaxCrossEntropyLoss", kY, {2, 3, 2, 2}, t, &kWy, none,
        {3.57694664, 6.15389329, 0, 0.0384733223, 0.985398307, 6.15389329, 0.0384733223, 0},
        &kLogPy);
  Check("SoftmaxCrossEntropyLoss", kY, {2, 3, 2, 2}, t, &kWy, {{"ignore_index", int64_t{-1}}},
        {2.11838477}, &kLogPy);
  Check("SoftmaxCrossEntropyLoss", kY, {2, 3, 2, 2}, t, nullptr,
        {{"reduction", std::string("sum")}, {"ignore_index", int64_t{-1}}}, {10.3774324});
}

TEST(NegativeLogLikelihoodLossTest, MatchesNumPy) {
  const Tensor t = I64({3}, kT);
  Check("NegativeLogLikelihoodLoss", kX, {3, 5}, t, &kW, Reduction("none"), {-1.5, -0.5625, 0.375});
  Check("NegativeLogLikelihoodLoss", kX, {3, 5}, t, &kW, {}, {-0.964285714});
  const Tensor ty = MakeTensor<int32_t>(DataType::kI32, {2, 2, 2}, kTy);
  Check("NegativeLogLikelihoodLoss", kY, {2, 3, 2, 2}, ty, nullptr, {{"ignore_index", int64_t{-1}}},
        {-0.0833333333});
  Check("NegativeLogLikelihoodLoss", kY, {2, 3, 2, 2}, ty, &kWy,
        {{"reduction", std::string("sum")}, {"ignore_index", int64_t{-1}}}, {2.75});
}

TEST(SoftmaxCrossEntropyLossTest, LargeScoresDoNotOverflow) {
  // log_softmax([1000, 1000, -1000]) = [-log 2, -log 2, -2000 - log 2].
  auto r = RunKernel("SoftmaxCrossEntropyLoss", {F32({1, 3}, {1000, 1000, -1000}), I64({1}, {2})},
                     {}, 2);
  ASSERT_TRUE(r.ok()) << r.status();
  ExpectNear<float>((*r)[0], {2000 + std::log(2.0)}, 1e-7);
  ExpectNear<float>((*r)[1], {-std::log(2.0), -std::log(2.0), -2000 - std::log(2.0)}, 1e-7);
}

TEST(SoftmaxCrossEntropyLossTest, MeanOfOnlyIgnoredLabelsIsNaN) {
  // 0 / 0, as in ONNX's reference and PyTorch.
  auto r = RunKernel("SoftmaxCrossEntropyLoss", {F32({2, 2}, {1, 2, 3, 4}), I64({2}, {-100, -100})},
                     {{"ignore_index", int64_t{-100}}}, 1);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(std::isnan(ToVector<float>((*r)[0])[0]));
}

// The definition in double: loss[n, d] = -w[t] * log_softmax(x[n, :, d])[t].
std::vector<double> ReferenceSce(const std::vector<float>& x, const std::vector<int64_t>& t,
                                 int64_t n, int64_t c, int64_t d, std::vector<double>* log_prob) {
  std::vector<double> loss(n * d);
  log_prob->assign(n * c * d, 0);
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < d; ++j) {
      double s = 0;
      for (int64_t k = 0; k < c; ++k) s += std::exp(static_cast<double>(x[(i * c + k) * d + j]));
      for (int64_t k = 0; k < c; ++k) {
        (*log_prob)[(i * c + k) * d + j] = x[(i * c + k) * d + j] - std::log(s);
      }
      loss[i * d + j] = -(*log_prob)[(i * c + t[i * d + j]) * d + j];
    }
  }
  return loss;
}

void CheckLargeAgainstDefinition(int64_t n, int64_t c, int64_t d, ThreadPool* pool) {
  std::vector<float> x(n * c * d);
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>((i * 7919 % 1000) * 0.01 - 5);
  std::vector<int64_t> t(n * d);
  for (size_t i = 0; i < t.size(); ++i) t[i] = static_cast<int64_t>(i * 31 % c);
  std::vector<double> log_prob;
  const std::vector<double> loss = ReferenceSce(x, t, n, c, d, &log_prob);
  std::vector<int64_t> shape = {n, c}, label_shape = {n};
  if (d > 1) {
    shape.push_back(d);
    label_shape.push_back(d);
  }
  auto r = RunKernel("SoftmaxCrossEntropyLoss",
                     {MakeTensor<float>(DataType::kF32, shape, x), I64(label_shape, t)},
                     Reduction("none"), 2, pool);
  ASSERT_TRUE(r.ok()) << r.status();
  ExpectNear<float>((*r)[0], loss, 1e-5);
  ExpectNear<float>((*r)[1], log_prob, 1e-5);
  double sum = 0;
  for (double v : loss) sum += v;
  auto m =
      RunKernel("SoftmaxCrossEntropyLoss",
                {MakeTensor<float>(DataType::kF32, shape, x), I64(label_shape, t)}, {}, 1, pool);
  ASSERT_TRUE(m.ok()) << m.status();
  ExpectNear<float>((*m)[0], {sum / (n * d)}, 1e-6);
}

TEST(SoftmaxCrossEntropyLossTest, RowsOfEveryLengthMatchDefinition) {
  CheckLargeAgainstDefinition(67, 1003, 1, nullptr);  // vector lanes plus a tail
  CheckLargeAgainstDefinition(9, 50, 1, nullptr);     // just over the short-row limit
  CheckLargeAgainstDefinition(600, 45, 1, nullptr);   // short rows: three blocks of rows
  CheckLargeAgainstDefinition(300, 1, 1, nullptr);    // one class: loss 0
}

TEST(SoftmaxCrossEntropyLossTest, SeveralColumnBlocksMatchDefinition) {
  CheckLargeAgainstDefinition(3, 7, 600, nullptr);  // blocks of 256, 256, 88 positions
}

TEST(SoftmaxCrossEntropyLossTest, ThreadPoolMatchesDefinition) {
  ThreadPool pool(3);
  CheckLargeAgainstDefinition(257, 300, 1, &pool);
  CheckLargeAgainstDefinition(4, 40, 1000, &pool);
}

TEST(LossErrorsTest, LabelOutOfRangeNamesLabelAndPosition) {
  auto r = RunKernel("SoftmaxCrossEntropyLoss", {F32({3, 5}, kX), I64({3}, {1, 7, 0})}, {}, 1);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr("label 7 at position [1]"));
  EXPECT_THAT(r.status().message(), HasSubstr("[0, 5)"));

  // A negative label that is not ignore_index, in the spatial case.
  auto n = RunKernel("NegativeLogLikelihoodLoss",
                     {F32({2, 3, 2, 2}, kY),
                      MakeTensor<int32_t>(DataType::kI32, {2, 2, 2}, {0, 1, 2, 1, 2, 2, -3, 0})},
                     {{"ignore_index", int64_t{-1}}}, 1);
  ASSERT_FALSE(n.ok());
  EXPECT_EQ(n.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(n.status().message(), HasSubstr("label -3 at position [1,1,0]"));
  EXPECT_THAT(n.status().message(), HasSubstr("ignore_index -1"));
}

TEST(LossErrorsTest, BadShapesAndAttributes) {
  auto shape =
      RunKernel("SoftmaxCrossEntropyLoss", {F32({3, 5}, kX), I64({5}, {0, 1, 2, 3, 4})}, {}, 1);
  ASSERT_FALSE(shape.ok());
  EXPECT_EQ(shape.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(shape.status().message(), HasSubstr("expected [3]"));

  auto rank =
      RunKernel("NegativeLogLikelihoodLoss", {F32({5}, {1, 2, 3, 4, 5}), I64({}, {0})}, {}, 1);
  ASSERT_FALSE(rank.ok());
  EXPECT_THAT(rank.status().message(), HasSubstr("expected rank >= 2"));

  auto weights = RunKernel("SoftmaxCrossEntropyLoss",
                           {F32({3, 5}, kX), I64({3}, kT), F32({4}, {1, 1, 1, 1})}, {}, 1);
  ASSERT_FALSE(weights.ok());
  EXPECT_THAT(weights.status().message(), HasSubstr("expected f32[5]"));

  auto label_type =
      RunKernel("SoftmaxCrossEntropyLoss", {F32({3, 5}, kX), F32({3}, {0, 1, 2})}, {}, 1);
  ASSERT_FALSE(label_type.ok());
  EXPECT_THAT(label_type.status().message(), HasSubstr("expected i32 or i64"));

  auto reduction =
      RunKernel("SoftmaxCrossEntropyLoss", {F32({3, 5}, kX), I64({3}, kT)}, Reduction("avg"), 1);
  ASSERT_FALSE(reduction.ok());
  EXPECT_EQ(reduction.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(reduction.status().message(), HasSubstr("reduction is 'avg'"));
}

}  // namespace
}  // namespace fleet
