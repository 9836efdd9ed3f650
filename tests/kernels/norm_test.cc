// Tests for the normalisation CPU kernels: Softmax, LogSoftmax, Hardmax (softmax.cc),
// BatchNormalization, InstanceNormalization, LayerNormalization, MeanVarianceNormalization
// (norm.cc), Dropout and LRN (dropout_lrn.cc).
//
// Expected values are from NumPy; the script that printed them (one line per array, values
// pasted below under the same names) is:
//   import numpy as np
//   def fmt(a): return ', '.join('%.9g' % v for v in np.ravel(a))
//   x = (((np.arange(24) * 5) % 11) - 5).astype(np.float64).reshape(2, 3, 4) * 0.5
//   print('x', fmt(x))
//   def softmax(x, ax):
//       e = np.exp(x - x.max(axis=ax, keepdims=True)); return e / e.sum(axis=ax, keepdims=True)
//   def logsoftmax(x, ax):
//       m = x.max(axis=ax, keepdims=True); return x - m - np.log(np.exp(x - m).sum(axis=ax,
//       keepdims=True))
//   def hardmax(x, ax):
//       return (np.arange(x.shape[ax]).reshape([-1 if i == ax % x.ndim else 1 for i in
//       range(x.ndim)]) == np.expand_dims(np.argmax(x, axis=ax), ax)).astype(x.dtype)
//   for ax in (-1, 1, 0):
//       print('softmax', ax, fmt(softmax(x, ax)))
//       print('logsoftmax', ax, fmt(logsoftmax(x, ax)))
//       print('hardmax', ax, fmt(hardmax(x, ax)))
//   # BatchNorm on x viewed as [2, 3, 4] (N=2, C=3, S=4)
//   scale = np.array([0.5, 1.0, 2.0]); bias = np.array([0.1, -0.2, 0.3]); mean = np.array([0.0,
//   0.5, -1.0]); var = np.array([1.0, 2.0, 0.25]) r = lambda v: v.reshape(1, 3, 1)
//   print('bn_infer', fmt(r(scale) * (x - r(mean)) / np.sqrt(r(var) + 1e-5) + r(bias)))
//   bm = x.mean(axis=(0, 2)); bv = x.var(axis=(0, 2))
//   print('bn_train_y', fmt(r(scale) * (x - r(bm)) / np.sqrt(r(bv) + 1e-5) + r(bias)))
//   print('bn_train_rm', fmt(mean * 0.9 + bm * 0.1)); print('bn_train_rv', fmt(var * 0.9 + bv *
//   0.1)) # InstanceNorm eps 1e-5 im = x.mean(axis=2, keepdims=True); iv = x.var(axis=2,
//   keepdims=True) print('instnorm', fmt(r(scale) * (x - im) / np.sqrt(iv + 1e-5) + r(bias))) #
//   LayerNorm axis=1 over [3, 4]; scale/bias [3, 4] W = (np.arange(12).reshape(3, 4) % 5) * 0.25 +
//   0.5; B = (np.arange(12).reshape(3, 4) % 3) * 0.1 - 0.1 lm = x.mean(axis=(1, 2), keepdims=True);
//   lv = x.var(axis=(1, 2), keepdims=True); inv = 1 / np.sqrt(lv + 1e-5) print('ln_y', fmt((x - lm)
//   * inv * W + B)); print('ln_mean', fmt(lm)); print('ln_inv', fmt(inv)) # LayerNorm axis=-1,
//   scale [4] only, eps 1e-3 w4 = np.array([1.0, 2.0, -1.0, 0.5]) lm = x.mean(axis=2,
//   keepdims=True); lv = x.var(axis=2, keepdims=True) print('ln_last', fmt((x - lm) / np.sqrt(lv +
//   1e-3) * w4)) # {-1.78281162, -0.265525134, 1.25176135, -0.568982431, 1.33103476, -0.798620858,
//   0.97609216, -1.15356346, 1.33103476, -0.798620858, 0.97609216, -1.15356346,
//   -0.265525134, 1.25176135, -0.568982431, 0.948304052, -0.798620858, 0.97609216, -1.15356346,
//   0.621149556, -0.798620858, 0.97609216, -1.15356346, 0.621149556} over axes [0, 2] mm =
//   x.mean(axis=(0, 2), keepdims=True); ms = np.sqrt((x * x).mean(axis=(0, 2), keepdims=True) - mm
//   * mm) print('mvn', fmt((x - mm) / (ms + 1e-9))) # LRN size 3 alpha 0.1 beta 0.75 bias 2 on x as
//   [2, 3, 4] (C=3) sq = np.zeros_like(x) for c in range(3):
//       sq[:, c] = (x[:, max(0, c - 1):min(3, c + 2)] ** 2).sum(axis=1)
//   print('lrn', fmt(x / (2 + 0.1 / 3 * sq) ** 0.75))
//   print('lrn_b1', fmt(x / (2 + 0.1 / 3 * sq) ** 1.0))
//   # Dropout seed 3 ratio 0.5 on 12 ones
//   np.random.seed(3); m = np.random.uniform(0, 1.0, (12,)) >= 0.5
//   print('drop_mask', ', '.join('true' if v else 'false' for v in m))
#include <cmath>
#include <string>
#include <vector>

#include "executor/thread_pool.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kernels/cpu/register.h"
#include "tests/kernels/kernel_test_util.h"

namespace fleet {
namespace {

using ::fleet::testing::MakeTensor;
using ::fleet::testing::RunKernel;
using ::fleet::testing::ToVector;
using ::testing::HasSubstr;

const std::vector<double> kX = {-2.5, 0,   2.5,  -0.5, 2,  -1,  1.5,  -1.5,
                                1,    -2,  0.5,  -2.5, 0,  2.5, -0.5, 2,
                                -1,   1.5, -1.5, 1,    -2, 0.5, -2.5, 0};  // shape [2, 3, 4]

template <typename T>
Tensor Make(DataType dtype, std::vector<int64_t> shape, const std::vector<double>& v) {
  return MakeTensor<T>(dtype, std::move(shape), std::vector<T>(v.begin(), v.end()));
}
Tensor F32(std::vector<int64_t> shape, const std::vector<double>& v) {
  return Make<float>(DataType::kF32, std::move(shape), v);
}

template <typename T>
void ExpectNear(const Tensor& t, const std::vector<double>& expected, double tol) {
  std::vector<T> got = ToVector<T>(t);
  ASSERT_EQ(got.size(), expected.size());
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_NEAR(got[i], expected[i], tol * (1 + std::abs(expected[i]))) << "element " << i;
  }
}

// Runs op on kX (f32 and f64) with `attrs` and compares output 0.
void CheckOnX(const std::string& op, const AttrMap& attrs, const std::vector<double>& expected) {
  auto f = RunKernel(op, {F32({2, 3, 4}, kX)}, attrs, 1);
  ASSERT_TRUE(f.ok()) << f.status();
  ExpectNear<float>((*f)[0], expected, 1e-6);
  auto d = RunKernel(op, {Make<double>(DataType::kF64, {2, 3, 4}, kX)}, attrs, 1);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ((*d)[0].dtype(), DataType::kF64);
  ExpectNear<double>((*d)[0], expected, 1e-8);  // the NumPy values carry 9 digits
}

TEST(SoftmaxTest, MatchesNumPyOnEveryAxis) {
  // axis -1 runs the contiguous-row loop; axes 1 and 0 the strided column-block loop.
  CheckOnX("Softmax", {},
           {0.00591769519, 0.0720922859, 0.878263837, 0.0437261817, 0.592938654, 0.0295206773,
            0.359635473,   0.0179051959, 0.592938654, 0.0295206773, 0.359635473, 0.0179051959,
            0.047218632,   0.575240699,  0.028639548, 0.348901121,  0.047218632, 0.575240699,
            0.028639548,   0.348901121,  0.047218632, 0.575240699,  0.028639548, 0.348901121});
  CheckOnX("Softmax", {{"axis", int64_t{1}}},
           {0.0080559026, 0.665240956, 0.665240956,  0.665240956,  0.725169242,  0.244728471,
            0.244728471,  0.244728471, 0.266774855,  0.0900305732, 0.0900305732, 0.0900305732,
            0.665240956,  0.665240956, 0.665240956,  0.665240956,  0.244728471,  0.244728471,
            0.244728471,  0.244728471, 0.0900305732, 0.0900305732, 0.0900305732, 0.0900305732});
  CheckOnX("Softmax", {{"axis", int64_t{-3}}},
           {0.07585818,   0.07585818, 0.952574127,  0.07585818, 0.952574127,  0.07585818,
            0.952574127,  0.07585818, 0.952574127,  0.07585818, 0.952574127,  0.07585818,
            0.92414182,   0.92414182, 0.0474258732, 0.92414182, 0.0474258732, 0.92414182,
            0.0474258732, 0.92414182, 0.0474258732, 0.92414182, 0.0474258732, 0.92414182});
  CheckOnX("LogSoftmax", {{"axis", int64_t{-1}}},
           {-5.12980823, -2.62980823,  -0.129808232, -3.12980823,  -0.522664336, -3.52266434,
            -1.02266434, -4.02266434,  -0.522664336, -3.52266434,  -1.02266434,  -4.02266434,
            -3.05296672, -0.552966718, -3.55296672,  -1.05296672,  -3.05296672,  -0.552966718,
            -3.55296672, -1.05296672,  -3.05296672,  -0.552966718, -3.55296672,  -1.05296672});
  CheckOnX("LogSoftmax", {{"axis", int64_t{1}}},
           {-4.82135021,  -0.407605964, -0.407605964, -0.407605964, -0.321350214, -1.40760596,
            -1.40760596,  -1.40760596,  -1.32135021,  -2.40760596,  -2.40760596,  -2.40760596,
            -0.407605964, -0.407605964, -0.407605964, -0.407605964, -1.40760596,  -1.40760596,
            -1.40760596,  -1.40760596,  -2.40760596,  -2.40760596,  -2.40760596,  -2.40760596});
  CheckOnX(
      "LogSoftmax", {{"axis", int64_t{0}}},
      {-2.57888973,   -2.57888973,   -0.0485873516, -2.57888973,   -0.0485873516, -2.57888973,
       -0.0485873516, -2.57888973,   -0.0485873516, -2.57888973,   -0.0485873516, -2.57888973,
       -0.0788897343, -0.0788897343, -3.04858735,   -0.0788897343, -3.04858735,   -0.0788897343,
       -3.04858735,   -0.0788897343, -3.04858735,   -0.0788897343, -3.04858735,   -0.0788897343});
  CheckOnX("Hardmax", {}, {0, 0, 1, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0});
  CheckOnX("Hardmax", {{"axis", int64_t{1}}},
           {0, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0});
  CheckOnX("Hardmax", {{"axis", int64_t{0}}},
           {0, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1});
}

TEST(SoftmaxTest, LargeInputsDoNotOverflow) {
  // softmax([1000, 1001, 1002]) = softmax([0, 1, 2]) = e^k / (1 + e + e^2).
  auto y = RunKernel("Softmax", {F32({1, 3}, {1000, 1001, 1002})}, {}, 1);
  ASSERT_TRUE(y.ok()) << y.status();
  const double z = 1 + std::exp(1.0) + std::exp(2.0);
  ExpectNear<float>((*y)[0], {1 / z, std::exp(1.0) / z, std::exp(2.0) / z}, 1e-6);
  // logsoftmax([-1000, -1001, -1002]) = [0, -1, -2] - log(1 + e^-1 + e^-2).
  auto l = RunKernel("LogSoftmax", {F32({1, 3}, {-1000, -1001, -1002})}, {}, 1);
  ASSERT_TRUE(l.ok()) << l.status();
  const double lz = std::log(1 + std::exp(-1.0) + std::exp(-2.0));
  ExpectNear<float>((*l)[0], {-lz, -1 - lz, -2 - lz}, 1e-6);
}

TEST(SoftmaxTest, LongRowsOnThreadsMatchClosedForm) {
  // x_i = log(i + 1) gives softmax_i = (i + 1) / (n (n + 1) / 2); 64 rows of 1000 on 2 threads.
  ThreadPool pool(2);
  const int n = 1000, rows = 64;
  std::vector<double> x(rows * n), expected(rows * n);
  for (int r = 0; r < rows; ++r) {
    for (int i = 0; i < n; ++i) {
      x[r * n + i] = std::log(i + 1.0);
      expected[r * n + i] = (i + 1.0) / (n * (n + 1) / 2.0);
    }
  }
  auto y = RunKernel("Softmax", {F32({rows, n}, x)}, {}, 1, &pool);
  ASSERT_TRUE(y.ok()) << y.status();
  ExpectNear<float>((*y)[0], expected, 2e-6);
  // The same along axis 0 of the transpose exercises the column blocks (n > block width).
  std::vector<double> xt(rows * n), et(rows * n);
  for (int r = 0; r < rows; ++r) {
    for (int i = 0; i < n; ++i) {
      xt[i * rows + r] = x[r * n + i];
      et[i * rows + r] = expected[r * n + i];
    }
  }
  auto yt = RunKernel("Softmax", {F32({n, rows}, xt)}, {{"axis", int64_t{0}}}, 1, &pool);
  ASSERT_TRUE(yt.ok()) << yt.status();
  ExpectNear<float>((*yt)[0], et, 2e-6);
}

TEST(SoftmaxTest, RejectsBadAxis) {
  auto y = RunKernel("Softmax", {F32({2, 3}, {0, 0, 0, 0, 0, 0})}, {{"axis", int64_t{2}}}, 1);
  ASSERT_FALSE(y.ok());
  EXPECT_EQ(y.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(y.status().message(), HasSubstr("axis 2 is out of range for input of rank 2"));
  auto h = RunKernel("Hardmax", {F32({2, 3}, {0, 0, 0, 0, 0, 0})}, {{"axis", int64_t{-3}}}, 1);
  ASSERT_FALSE(h.ok());
  EXPECT_THAT(h.status().message(), HasSubstr("axis -3 is out of range"));
}

const std::vector<double> kScale = {0.5, 1.0, 2.0}, kBias = {0.1, -0.2, 0.3};
const std::vector<double> kMean = {0.0, 0.5, -1.0}, kVar = {1.0, 2.0, 0.25};

TEST(BatchNormTest, InferenceMatchesNumPy) {
  auto y = RunKernel(
      "BatchNormalization",
      {F32({2, 3, 4}, kX), F32({3}, kScale), F32({3}, kBias), F32({3}, kMean), F32({3}, kVar)}, {},
      1);
  ASSERT_TRUE(y.ok()) << y.status();
  ExpectNear<float>((*y)[0],
                    {-1.14999375, 0.1,         1.34999375,  -0.14999875, 0.86065752,  -1.26065752,
                     0.507105013, -1.61421003, 8.29984,     -3.69992,    6.29988,     -5.69988,
                     0.1,         1.34999375,  -0.14999875, 1.099995,    -1.26065752, 0.507105013,
                     -1.61421003, 0.153552507, -3.69992,    6.29988,     -5.69988,    4.29992},
                    1e-6);
}

TEST(BatchNormTest, TrainingModeUsesBatchStatisticsAndUpdatesRunningOnes) {
  auto y = RunKernel(
      "BatchNormalization",
      {Make<double>(DataType::kF64, {2, 3, 4}, kX), Make<double>(DataType::kF64, {3}, kScale),
       Make<double>(DataType::kF64, {3}, kBias), Make<double>(DataType::kF64, {3}, kMean),
       Make<double>(DataType::kF64, {3}, kVar)},
      {{"training_mode", int64_t{1}}}, 3);
  ASSERT_TRUE(y.ok()) << y.status();
  ExpectNear<double>(
      (*y)[0],
      {-0.791404167,  -0.0327623228, 0.725879522,  -0.184490692, 1.13103141,   -0.998618846,
       0.776089701,   -1.35356056,   2.96206282,   -1.29723769,  2.2521794,    -2.00712111,
       -0.0327623228, 0.725879522,   -0.184490692, 0.574151153,  -0.998618846, 0.776089701,
       -1.35356056,   0.421147991,   -1.29723769,  2.2521794,    -2.00712111,  1.54229598},
      1e-8);
  // momentum is a float attribute (0.9f), so the running statistics agree to ~1e-8 only.
  ExpectNear<double>((*y)[1], {0.04375, 0.4625, -0.9875}, 1e-7);
  ExpectNear<double>((*y)[2], {1.17148437, 1.9984375, 0.4234375}, 1e-7);
}

TEST(BatchNormTest, RejectsBadParameterShapes) {
  auto y = RunKernel("BatchNormalization",
                     {F32({2, 3, 4}, kX), F32({3}, kScale), F32({3}, kBias), F32({4}, {0, 0, 0, 0}),
                      F32({3}, kVar)},
                     {}, 1);
  ASSERT_FALSE(y.ok());
  EXPECT_EQ(y.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(y.status().message(), HasSubstr("input 'input_mean' is f32[4]; expected f32[3]"));
  auto r1 = RunKernel(
      "BatchNormalization",
      {F32({3}, kScale), F32({3}, kScale), F32({3}, kBias), F32({3}, kMean), F32({3}, kVar)}, {},
      1);
  ASSERT_FALSE(r1.ok());
  EXPECT_THAT(r1.status().message(), HasSubstr("expected rank >= 2"));
}

TEST(InstanceNormTest, MatchesNumPy) {
  auto y = RunKernel("InstanceNormalization",
                     {F32({2, 3, 4}, kX), F32({3}, kScale), F32({3}, kBias)}, {}, 1);
  ASSERT_TRUE(y.ok()) << y.status();
  ExpectNear<float>(
      (*y)[0], {-0.566768235, 0.135093065, 0.836954365,  -0.00527919499, 0.950790423,  -1.02199316,
                0.621993159,  -1.35079042, 2.60158085,   -1.34398632,    1.94398632,   -2.00158085,
                -0.292231063, 0.688346595, -0.488346595, 0.492231063,    -0.984462127, 0.97669319,
                -1.37669319,  0.584462127, -1.26892425,  2.65338638,     -2.05338638,  1.86892425},
      1e-5);
}

TEST(LayerNormTest, AxisOneWithMeanAndInvStdDev) {
  std::vector<double> w(12), b(12);
  for (int i = 0; i < 12; ++i) {
    w[i] = (i % 5) * 0.25 + 0.5;
    b[i] = (i % 3) * 0.1 - 0.1;
  }
  auto y = RunKernel("LayerNormalization", {F32({2, 3, 4}, kX), F32({3, 4}, w), F32({3, 4}, b)},
                     {{"axis", int64_t{1}}}, 3);
  ASSERT_TRUE(y.ok()) << y.status();
  ExpectNear<float>(
      (*y)[0], {-0.7885755,  0.0938966591, 1.72754209,   -0.319092204, 1.99060917,   -0.137871536,
                0.669952604, -0.776212381, 1.0076677,    -1.71502254,  0.212832427,  -0.93286325,
                -0.1,        1.23858153,   -0.230288409, 1.55144204,   -0.990865227, 0.595432613,
                -0.84314892, 0.660576818,  -1.55144204,  0.395432613,  -0.825721022, 0.1},
      1e-5);
  EXPECT_EQ((*y)[1].shape(), (std::vector<int64_t>{2, 1, 1}));
  EXPECT_EQ((*y)[1].dtype(), DataType::kF32);
  ExpectNear<float>((*y)[1], {-0.208333333, 0}, 1e-6);
  ExpectNear<float>((*y)[2], {0.600938618, 0.660576818}, 1e-6);
}

TEST(LayerNormTest, LastAxisWithoutBiasF64) {
  auto y = RunKernel("LayerNormalization",
                     {Make<double>(DataType::kF64, {2, 3, 4}, kX),
                      Make<double>(DataType::kF64, {4}, {1.0, 2.0, -1.0, 0.5})},
                     {{"epsilon", 1e-3f}}, 1);
  ASSERT_TRUE(y.ok()) << y.status();
  ExpectNear<double>(
      (*y)[0], {-1.33332841,  0.140350359,  -1.47367877,  -0.105262769, 1.15054417,   -1.64363453,
                -0.821817266, -0.575272086, 1.15054417,   -1.64363453,  -0.821817266, -0.575272086,
                -0.784223278, 2.35266983,   1.17633492,   0.392111639,  -0.784223278, 2.35266983,
                1.17633492,   0.392111639,  -0.784223278, 2.35266983,   1.17633492,   0.392111639},
      1e-6);  // epsilon passes through a float attribute
}

TEST(LayerNormTest, RejectsScaleThatDoesNotBroadcast) {
  auto y = RunKernel("LayerNormalization", {F32({2, 3, 4}, kX), F32({3}, {1, 1, 1})}, {}, 1);
  ASSERT_FALSE(y.ok());
  EXPECT_EQ(y.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(y.status().message(),
              HasSubstr("input 'Scale' has shape [3]; expected a shape that broadcasts to [4]"));
  auto a = RunKernel("LayerNormalization", {F32({2, 3, 4}, kX), F32({4}, {1, 1, 1, 1})},
                     {{"axis", int64_t{3}}}, 1);
  ASSERT_FALSE(a.ok());
  EXPECT_THAT(a.status().message(), HasSubstr("axis 3 is out of range for input of rank 3"));
}

TEST(MvnTest, MatchesNumPy) {
  CheckOnX("MeanVarianceNormalization", {{"axes", std::vector<int64_t>{0, 2}}},
           {-1.78281162,  -0.265525134, 1.25176135,   -0.568982431, 1.33103476,   -0.798620858,
            0.97609216,   -1.15356346,  1.33103476,   -0.798620858, 0.97609216,   -1.15356346,
            -0.265525134, 1.25176135,   -0.568982431, 0.948304052,  -0.798620858, 0.97609216,
            -1.15356346,  0.621149556,  -0.798620858, 0.97609216,   -1.15356346,  0.621149556});
}

TEST(LrnTest, MatchesNumPy) {
  // beta 0.75 takes the sqrt fast path, beta 1 the pow path.
  AttrMap attrs = {{"size", int64_t{3}}, {"alpha", 0.1f}, {"beta", 0.75f}, {"bias", 2.0f}};
  CheckOnX("LRN", attrs,
           {-1.32067575,
            0,
            1.34590071,
            -0.28833737,
            1.04539949,
            -0.559958606,
            0.805337038,
            -0.805337038,
            0.559958606,
            -1.11991721,
            0.28833737,
            -1.34590071,
            0,
            1.34590071,
            -0.28833737,
            1.11991721,
            -0.559958606,
            0.805337038,
            -0.805337038,
            0.559958606,
            -1.11991721,
            0.28833737,
            -1.34590071,
            0});
  attrs["beta"] = 1.0f;
  auto y = RunKernel("LRN", {F32({2, 3, 4}, kX)}, attrs, 1);
  ASSERT_TRUE(y.ok()) << y.status();
  ExpectNear<float>((*y)[0],
                    {-1.06761566,
                     0,
                     1.09489051,
                     -0.24,
                     0.842105263,
                     -0.461538462,
                     0.654545455,
                     -0.654545455,
                     0.461538462,
                     -0.923076923,
                     0.24,
                     -1.09489051,
                     0,
                     1.09489051,
                     -0.24,
                     0.923076923,
                     -0.461538462,
                     0.654545455,
                     -0.654545455,
                     0.461538462,
                     -0.923076923,
                     0.24,
                     -1.09489051,
                     0},
                    1e-6);
  auto bad = RunKernel("LRN", {F32({2, 3, 4}, kX)}, {}, 1);
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("attribute 'size' is required"));
}

Tensor Bool(bool v) { return MakeTensor<uint8_t>(DataType::kBool, {}, {static_cast<uint8_t>(v)}); }

TEST(DropoutTest, InferenceIsIdentityWithAllTrueMask) {
  Tensor x = F32({2, 3, 4}, kX);
  auto y = RunKernel("Dropout", {x, F32({}, {0.5}), Bool(false)}, {}, 2);
  ASSERT_TRUE(y.ok()) << y.status();
  EXPECT_EQ((*y)[0].raw_data(), x.raw_data());  // a view, no copy
  EXPECT_EQ((*y)[1].dtype(), DataType::kBool);
  EXPECT_EQ(ToVector<uint8_t>((*y)[1]), std::vector<uint8_t>(24, 1));
}

TEST(DropoutTest, SeededTrainingMatchesNumPyStream) {
  // np.random.seed(3); np.random.uniform(0, 1, (12,)) >= 0.5 (the drop_mask line above).
  const std::vector<bool> mask = {true,  true,  false, true,  true,  true,
                                  false, false, false, false, false, false};
  auto y =
      RunKernel("Dropout", {F32({12}, std::vector<double>(12, 1.5)), F32({}, {0.5}), Bool(true)},
                {{"seed", int64_t{3}}}, 2);
  ASSERT_TRUE(y.ok()) << y.status();
  std::vector<float> out = ToVector<float>((*y)[0]);
  std::vector<uint8_t> m = ToVector<uint8_t>((*y)[1]);
  for (int i = 0; i < 12; ++i) {
    EXPECT_EQ(m[i], mask[i] ? 1 : 0) << i;
    EXPECT_EQ(out[i], mask[i] ? 3.0f : 0.0f) << i;
  }
}

TEST(DropoutTest, UnseededTrainingKeepsAboutOneMinusRatio) {
  ThreadPool pool(2);
  const int n = 200000;
  auto y =
      RunKernel("Dropout", {F32({n}, std::vector<double>(n, 1.0)), F32({}, {0.25}), Bool(true)}, {},
                1, &pool);
  ASSERT_TRUE(y.ok()) << y.status();
  std::vector<float> out = ToVector<float>((*y)[0]);
  int kept = 0;
  for (float v : out) {
    ASSERT_TRUE(v == 0.0f || std::abs(v - 1.0f / 0.75f) < 1e-6f) << v;
    kept += v != 0.0f;
  }
  EXPECT_NEAR(kept / double(n), 0.75, 0.01);  // binomial sd ~0.001
  auto bad = RunKernel("Dropout", {F32({2}, {1, 1}), F32({}, {1.0}), Bool(true)}, {}, 1);
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("expected 0 <= ratio < 1"));
}

TEST(DropoutTest, UnseededMasksFollowTheProcessSeed) {
  auto masks = [](uint64_t seed) {
    SetCpuRandomSeed(seed);
    std::vector<std::vector<uint8_t>> out;
    for (int call = 0; call < 2; ++call) {
      auto y = RunKernel("Dropout", {F32({64}, std::vector<double>(64, 1.0)), F32({}, {0.5}),
                                     Bool(true)},
                         {}, 2);
      EXPECT_TRUE(y.ok()) << y.status();
      out.push_back(ToVector<uint8_t>((*y)[1]));
    }
    return out;
  };
  const auto a = masks(11), b = masks(11), c = masks(12);
  EXPECT_EQ(a, b);           // same seed, same calls: same masks
  EXPECT_NE(a[0], a[1]);     // successive calls (training steps) differ
  EXPECT_NE(a[0], c[0]);     // another seed draws others
}

TEST(DropoutTest, UnseededMasksFollowTheExecutorsOwnStreams) {
  // Two executors' environments (two ranks as threads), each seeded 11, interleaved with each
  // other and with process-wide draws: each draws the sequence a process seeded 11 draws.
  auto mask = [](const ExecutionEnv* env) {
    auto y =
        RunKernel("Dropout", {F32({64}, std::vector<double>(64, 1.0)), F32({}, {0.5}), Bool(true)},
                  {}, 2, nullptr, env);
    EXPECT_TRUE(y.ok()) << y.status();
    return ToVector<uint8_t>((*y)[1]);
  };
  SetCpuRandomSeed(11);
  const std::vector<uint8_t> first = mask(nullptr), second = mask(nullptr);
  ExecutionEnv rank0, rank1;
  rank0.Set(std::make_shared<CpuRandomStreams>(11));
  rank1.Set(std::make_shared<CpuRandomStreams>(11));
  SetCpuRandomSeed(5);
  EXPECT_EQ(mask(&rank0), first);
  mask(nullptr);
  EXPECT_EQ(mask(&rank1), first);
  EXPECT_EQ(mask(&rank1), second);
  EXPECT_EQ(mask(&rank0), second);
}

}  // namespace
}  // namespace fleet
