// Tests of the gradient kernels: fleet.reduce_to_like over each of its loop shapes (serial and
// with a thread pool, against a plain index walk), the one-pass activation gradients in f32
// (against the f64 formulas), fleet.reduce_select_grad, and their error paths.
#include <cmath>
#include <functional>
#include <random>

#include "executor/thread_pool.h"
#include "gtest/gtest.h"
#include "tests/kernels/kernel_test_util.h"

namespace fleet {
namespace {

using testing::MakeTensor;
using testing::RunKernel;
using testing::ToVector;

Tensor Random(DataType dtype, const std::vector<int64_t>& shape, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> dist(-1.0, 1.0);
  Tensor t(dtype, shape);
  for (int64_t i = 0; i < t.numel(); ++i) {
    if (dtype == DataType::kF32) {
      t.data<float>()[i] = static_cast<float>(dist(rng));
    } else {
      t.data<double>()[i] = dist(rng);
    }
  }
  return t;
}

// Sums x (f32) down to `like` by walking every index of x.
std::vector<double> NaiveReduce(const Tensor& x, const std::vector<int64_t>& like) {
  const int rank = x.rank();
  std::vector<int64_t> padded(rank - like.size(), 1);
  padded.insert(padded.end(), like.begin(), like.end());
  std::vector<double> out(NumElements(like), 0.0);
  std::vector<int64_t> idx(rank, 0);
  for (int64_t i = 0; i < x.numel(); ++i) {
    int64_t j = 0;
    for (int d = 0; d < rank; ++d) j = j * padded[d] + (padded[d] == 1 ? 0 : idx[d]);
    out[j] += x.data<float>()[i];
    for (int d = rank - 1; d >= 0; --d) {
      if (++idx[d] < x.dim(d)) break;
      idx[d] = 0;
    }
  }
  return out;
}

struct ReduceCase {
  std::vector<int64_t> x, like;
};

class ReduceToLikeTest : public ::testing::TestWithParam<ReduceCase> {};

TEST_P(ReduceToLikeTest, MatchesAnIndexWalk) {
  const ReduceCase& c = GetParam();
  const Tensor x = Random(DataType::kF32, c.x, 3);
  const Tensor like(DataType::kF32, c.like);
  const std::vector<double> want = NaiveReduce(x, c.like);
  ThreadPool pool(4);
  for (ThreadPool* p : {static_cast<ThreadPool*>(nullptr), &pool}) {
    auto out = RunKernel("fleet.reduce_to_like", {x, like}, {}, 1, p);
    ASSERT_TRUE(out.ok()) << out.status();
    ASSERT_EQ((*out)[0].shape(), c.like);
    const std::vector<float> got = ToVector<float>((*out)[0]);
    for (size_t i = 0; i < got.size(); ++i) {
      ASSERT_NEAR(got[i], want[i], 1e-4 * (1 + std::abs(want[i]))) << i;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, ReduceToLikeTest,
    ::testing::Values(ReduceCase{{3000, 40}, {40}},         // bias: row blocks
                      ReduceCase{{8, 300, 24}, {24}},       // [B, T, D] -> [D]
                      ReduceCase{{12, 5000}, {1, 5000}},    // long rows: column ranges
                      ReduceCase{{7, 3}, {3}},              // small bias
                      ReduceCase{{500, 70}, {500, 1}},      // row sums
                      ReduceCase{{4, 50, 700}, {50, 1}},    // channel bias
                      ReduceCase{{2, 3, 5, 4}, {3, 1, 1}},  // channel bias, tiny
                      ReduceCase{{3, 4, 5}, {3, 1, 5}},     // kept, summed, kept: index walk
                      ReduceCase{{6, 1, 4}, {1, 4}},        // size-1 dims
                      ReduceCase{{70000}, {1}},             // everything
                      ReduceCase{{5, 0}, {0}}));            // empty

TEST(ReduceToLike, SameShapeIsPassedThrough) {
  const Tensor x = Random(DataType::kF64, {3, 4}, 1);
  auto out = RunKernel("fleet.reduce_to_like", {x, Tensor(DataType::kF64, {3, 4})}, {}, 1);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(ToVector<double>((*out)[0]), ToVector<double>(x));
}

TEST(ReduceToLike, ShapesThatDoNotBroadcastAreAnError) {
  auto out = RunKernel("fleet.reduce_to_like",
                       {Tensor(DataType::kF32, {3, 4}), Tensor(DataType::kF32, {3})}, {}, 1);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(out.status().message().find("do not broadcast"), std::string::npos);
}

// The f32 kernels (vectorised approximations) against the f64 formulas.
struct ActivationCase {
  std::string op;
  bool from_output;
  std::function<double(double x, double y)> derivative;  // of the forward at x (y = f(x))
  std::function<double(double)> forward;
};

class ActivationGradTest : public ::testing::TestWithParam<ActivationCase> {};

TEST_P(ActivationGradTest, F32MatchesTheF64Formula) {
  const ActivationCase& c = GetParam();
  const int64_t n = 1037;  // vector blocks and a tail
  Tensor a(DataType::kF32, {n});
  const Tensor dy = Random(DataType::kF32, {n}, 5);
  std::vector<double> xs(n);
  for (int64_t i = 0; i < n; ++i) {
    xs[i] = -4.0 + 8.0 * static_cast<double>(i) / static_cast<double>(n - 1) + 1e-3;
    const double v = c.from_output ? c.forward(xs[i]) : xs[i];
    a.data<float>()[i] = static_cast<float>(v);
  }
  ThreadPool pool(2);
  auto out = RunKernel("fleet." + c.op + "_grad", {a, dy}, {}, 1, &pool);
  ASSERT_TRUE(out.ok()) << out.status();
  for (int64_t i = 0; i < n; ++i) {
    const double y = a.data<float>()[i];
    const double x = c.from_output ? xs[i] : y;
    const double want = dy.data<float>()[i] * c.derivative(x, c.from_output ? y : c.forward(x));
    ASSERT_NEAR((*out)[0].data<float>()[i], want, 2e-6 + 2e-6 * std::abs(want))
        << c.op << " at x = " << x;
  }
}

double Sigmoid(double x) { return 1 / (1 + std::exp(-x)); }

INSTANTIATE_TEST_SUITE_P(
    Ops, ActivationGradTest,
    ::testing::Values(
        ActivationCase{"relu", true, [](double x, double) { return x > 0 ? 1.0 : 0.0; },
                       [](double x) { return x > 0 ? x : 0.0; }},
        ActivationCase{"sigmoid", true, [](double, double y) { return y * (1 - y); }, Sigmoid},
        ActivationCase{"tanh", true, [](double, double y) { return 1 - y * y; },
                       [](double x) { return std::tanh(x); }},
        ActivationCase{"erf", false,
                       [](double x, double) { return 2 / std::sqrt(M_PI) * std::exp(-x * x); },
                       [](double x) { return std::erf(x); }},
        ActivationCase{"softplus", false, [](double x, double) { return Sigmoid(x); },
                       [](double x) { return std::log1p(std::exp(x)); }},
        ActivationCase{"elu", false, [](double x, double) { return x < 0 ? std::exp(x) : 1.0; },
                       [](double x) { return x < 0 ? std::expm1(x) : x; }},
        ActivationCase{"leaky_relu", false, [](double x, double) { return x < 0 ? 0.01 : 1.0; },
                       [](double x) { return x < 0 ? 0.01 * x : x; }}),
    [](const ::testing::TestParamInfo<ActivationCase>& info) { return info.param.op; });

TEST(ActivationGradKernels, MismatchedGradientIsAnError) {
  auto out = RunKernel("fleet.relu_grad",
                       {Tensor(DataType::kF32, {4}), Tensor(DataType::kF32, {5})}, {}, 1);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(out.status().message().find("expected f32[4]"), std::string::npos) << out.status();
}

TEST(DropoutGradKernel, ScalesKeptElementsInTraining) {
  const Tensor dy = MakeTensor<float>(DataType::kF32, {4}, {1, 2, 3, 4});
  const Tensor mask = MakeTensor<uint8_t>(DataType::kBool, {4}, {1, 0, 1, 0});
  const Tensor ratio = MakeTensor<float>(DataType::kF32, {}, {0.75f});
  const Tensor on = MakeTensor<uint8_t>(DataType::kBool, {}, {1});
  const Tensor off = MakeTensor<uint8_t>(DataType::kBool, {}, {0});
  auto train = RunKernel("fleet.dropout_grad", {dy, mask, ratio, on}, {}, 1);
  ASSERT_TRUE(train.ok()) << train.status();
  EXPECT_EQ(ToVector<float>((*train)[0]), (std::vector<float>{4, 0, 12, 0}));
  auto infer = RunKernel("fleet.dropout_grad", {dy, mask, ratio, off}, {}, 1);
  ASSERT_TRUE(infer.ok()) << infer.status();
  EXPECT_EQ(ToVector<float>((*infer)[0]), (std::vector<float>{1, 2, 3, 4}));
  auto bad = RunKernel("fleet.dropout_grad", {dy, Tensor(DataType::kBool, {3}), ratio, on}, {}, 1);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("'Mask'"), std::string::npos) << bad.status();
}

TEST(ReduceSelectGradKernel, RoutesToTheFirstMaximum) {
  const Tensor x = MakeTensor<float>(DataType::kF32, {2, 3}, {1, 5, 5, 2, 0, 2});
  const Tensor y = MakeTensor<float>(DataType::kF32, {2}, {5, 2});
  const Tensor dy = MakeTensor<float>(DataType::kF32, {2}, {10, 20});
  AttrMap attrs = {{"axes", std::vector<int64_t>{1}}, {"keepdims", int64_t{0}}};
  auto out = RunKernel("fleet.reduce_select_grad", {x, y, dy}, attrs, 1);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(ToVector<float>((*out)[0]), (std::vector<float>{0, 10, 0, 20, 0, 0}));
  auto bad = RunKernel("fleet.reduce_select_grad", {x, dy, Tensor(DataType::kF32, {3})}, attrs, 1);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace fleet
