// Tests for the dense optimizer updates (optimizer.cc): several steps of each
// optimizer against a reference written here from torch.optim's formulas and
// computed in double, in-place behaviour (the outputs are the inputs' buffers),
// and bad inputs.
//
// The references deliberately use other, algebraically equal forms than the
// kernels: Adam's bias correction is folded into the step size the way the Adam
// paper's section 2 writes it (lr_t = lr * sqrt(1 - beta2^t) / (1 - beta1^t),
// eps_hat = eps * sqrt(1 - beta2^t)), and beta^t comes from std::pow of the
// step count rather than from the Beta*Pow vars.
#include <cmath>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/kernels/kernel_test_util.h"

namespace fleet {
namespace {

using ::fleet::testing::MakeTensor;
using ::fleet::testing::RunKernel;
using ::fleet::testing::ToVector;
using ::testing::HasSubstr;

constexpr int kSteps = 5;

// Deterministic, sign-changing values so moments and accumulators see varied
// gradients.
double GradValue(int64_t i, int step) { return std::sin(0.7 * i + 1.3 * step + 0.1) * 1.5; }
double InitValue(int64_t i) { return std::cos(0.37 * i) - 0.2; }

template <typename T>
Tensor Filled(DataType dtype, std::vector<int64_t> shape, double (*fn)(int64_t)) {
  Tensor t(dtype, shape);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<T>()[i] = static_cast<T>(fn(i));
  return t;
}

template <typename T>
Tensor GradAt(DataType dtype, std::vector<int64_t> shape, int step) {
  Tensor t(dtype, shape);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<T>()[i] = static_cast<T>(GradValue(i, step));
  return t;
}

double Zero(int64_t) { return 0.0; }
Tensor Lr(float lr) { return MakeTensor<float>(DataType::kF32, {}, {lr}); }

template <typename T>
void ExpectNear(const Tensor& actual, const std::vector<double>& expected, double rel,
                const std::string& what) {
  ASSERT_EQ(actual.numel(), static_cast<int64_t>(expected.size())) << what;
  for (size_t i = 0; i < expected.size(); ++i) {
    double a = static_cast<double>(actual.data<T>()[i]);
    if (std::fabs(a - expected[i]) > rel * (1.0 + std::fabs(expected[i]))) {
      ADD_FAILURE() << what << " [" << i << "]: got " << a << ", expected " << expected[i];
      return;  // the first mismatch is enough; large tensors would flood the log
    }
  }
}

// ---- SGD ----

template <typename T>
void CheckSgd(DataType dtype, double tol) {
  const std::vector<int64_t> shape = {3, 4};
  const double lr = 0.05;
  Tensor param = Filled<T>(dtype, shape, InitValue);
  std::vector<double> p(12);
  for (int i = 0; i < 12; ++i) p[i] = InitValue(i);
  for (int t = 1; t <= kSteps; ++t) {
    auto out = RunKernel("fleet.sgd", {param, GradAt<T>(dtype, shape, t), Lr(lr)}, {}, 1);
    ASSERT_TRUE(out.ok()) << out.status();
    EXPECT_EQ((*out)[0].raw_data(), param.raw_data()) << "ParamOut must be Param's buffer";
    for (int i = 0; i < 12; ++i)
      p[i] = p[i] - static_cast<double>(static_cast<float>(lr)) *
                        static_cast<double>(static_cast<T>(GradValue(i, t)));
    ExpectNear<T>(param, p, tol, "sgd step " + std::to_string(t));
  }
}

TEST(SgdTest, MatchesReferenceF32) { CheckSgd<float>(DataType::kF32, 1e-6); }
TEST(SgdTest, MatchesReferenceF64) { CheckSgd<double>(DataType::kF64, 1e-12); }

// ---- Momentum ----

template <typename T>
void CheckMomentum(DataType dtype, bool nesterov, double tol) {
  const std::vector<int64_t> shape = {2, 5};
  const double lr = 0.1, mu = 0.8;
  Tensor param = Filled<T>(dtype, shape, InitValue);
  Tensor velocity = Filled<T>(dtype, shape, Zero);
  std::vector<double> p(10), buf(10, 0.0);
  for (int i = 0; i < 10; ++i) p[i] = InitValue(i);
  AttrMap attrs = {{"mu", AttrValue(static_cast<float>(mu))},
                   {"use_nesterov", AttrValue(int64_t{nesterov ? 1 : 0})}};
  for (int t = 1; t <= kSteps; ++t) {
    auto out = RunKernel("fleet.momentum", {param, GradAt<T>(dtype, shape, t), velocity, Lr(lr)},
                         attrs, 2);
    ASSERT_TRUE(out.ok()) << out.status();
    EXPECT_EQ((*out)[0].raw_data(), param.raw_data());
    EXPECT_EQ((*out)[1].raw_data(), velocity.raw_data());
    // torch.optim.SGD(momentum=mu, dampening=0): buf = mu*buf + g; step = g +
    // mu*buf (nesterov) or buf; p = p - lr*step.
    for (int i = 0; i < 10; ++i) {
      double g = GradValue(i, t);
      buf[i] = mu * buf[i] + g;
      double step = nesterov ? g + mu * buf[i] : buf[i];
      p[i] -= lr * step;
    }
    ExpectNear<T>(param, p, tol, "momentum param step " + std::to_string(t));
    ExpectNear<T>(velocity, buf, tol, "momentum velocity step " + std::to_string(t));
  }
}

TEST(MomentumTest, MatchesReferenceF32) { CheckMomentum<float>(DataType::kF32, false, 1e-5); }
TEST(MomentumTest, NesterovMatchesReferenceF32) {
  CheckMomentum<float>(DataType::kF32, true, 1e-5);
}
TEST(MomentumTest, NesterovMatchesReferenceF64) {
  CheckMomentum<double>(DataType::kF64, true,
                        1e-6);  // mu and lr are rounded to f32 first
}

// ---- Adam / AdamW ----

template <typename T>
void CheckAdam(DataType dtype, bool adamw, int64_t n, ThreadPool* pool, double tol) {
  const std::vector<int64_t> shape = {n};
  const double lr = 0.01, beta1 = 0.9, beta2 = 0.99, eps = 1e-6, wd = 0.05;
  Tensor param = Filled<T>(dtype, shape, InitValue);
  Tensor m1 = Filled<T>(dtype, shape, Zero);
  Tensor m2 = Filled<T>(dtype, shape, Zero);
  Tensor b1p = MakeTensor<T>(dtype, {1}, {static_cast<T>(static_cast<float>(beta1))});
  Tensor b2p = MakeTensor<T>(dtype, {1}, {static_cast<T>(static_cast<float>(beta2))});
  std::vector<double> p(n), m(n, 0.0), v(n, 0.0);
  for (int64_t i = 0; i < n; ++i) p[i] = InitValue(i);
  AttrMap attrs = {{"beta1", AttrValue(static_cast<float>(beta1))},
                   {"beta2", AttrValue(static_cast<float>(beta2))},
                   {"epsilon", AttrValue(static_cast<float>(eps))}};
  if (adamw) attrs["weight_decay"] = AttrValue(static_cast<float>(wd));
  const std::string op = adamw ? "fleet.adamw" : "fleet.adam";
  for (int t = 1; t <= kSteps; ++t) {
    auto out = RunKernel(op, {param, GradAt<T>(dtype, shape, t), Lr(lr), m1, m2, b1p, b2p}, attrs,
                         5, pool);
    ASSERT_TRUE(out.ok()) << out.status();
    const Tensor* in_place[] = {&param, &m1, &m2, &b1p, &b2p};
    for (int k = 0; k < 5; ++k) EXPECT_EQ((*out)[k].raw_data(), in_place[k]->raw_data()) << k;
    const double lr_t = lr * std::sqrt(1 - std::pow(beta2, t)) / (1 - std::pow(beta1, t));
    const double eps_hat = eps * std::sqrt(1 - std::pow(beta2, t));
    for (int64_t i = 0; i < n; ++i) {
      double g = GradValue(i, t);
      if (adamw) p[i] *= 1 - lr * wd;
      m[i] = beta1 * m[i] + (1 - beta1) * g;
      v[i] = beta2 * v[i] + (1 - beta2) * g * g;
      p[i] -= lr_t * m[i] / (std::sqrt(v[i]) + eps_hat);
    }
    ExpectNear<T>(param, p, tol, op + " param step " + std::to_string(t));
    ExpectNear<T>(m1, m, tol, op + " moment1 step " + std::to_string(t));
    ExpectNear<T>(m2, v, tol, op + " moment2 step " + std::to_string(t));
    ExpectNear<T>(b1p, {std::pow(beta1, t + 1)}, tol, "beta1_pow");
    ExpectNear<T>(b2p, {std::pow(beta2, t + 1)}, tol, "beta2_pow");
  }
}

TEST(AdamTest, MatchesReferenceF32) { CheckAdam<float>(DataType::kF32, false, 17, nullptr, 2e-5); }
TEST(AdamTest, MatchesReferenceF64) {
  CheckAdam<double>(DataType::kF64, false, 17, nullptr, 1e-6);  // attrs are f32
}
TEST(AdamWTest, MatchesReferenceF32) { CheckAdam<float>(DataType::kF32, true, 17, nullptr, 2e-5); }
TEST(AdamTest, LargeTensorOnThreadPool) {
  ThreadPool pool(2);
  CheckAdam<float>(DataType::kF32, true, 100003, &pool, 2e-5);
}

TEST(AdamTest, DefaultAttributesAreTorchDefaults) {
  // One step from zero moments: m = 0.1 g, v = 0.001 g^2, bias-corrected m_hat
  // = g and v_hat = g^2, so p moves by lr * g / (|g| + 1e-8): lr * sign(g) up
  // to epsilon.
  Tensor param = MakeTensor<float>(DataType::kF32, {2}, {1.0f, -1.0f});
  Tensor grad = MakeTensor<float>(DataType::kF32, {2}, {0.5f, -2.0f});
  Tensor m1 = Tensor::Zeros(DataType::kF32, {2});
  Tensor m2 = Tensor::Zeros(DataType::kF32, {2});
  Tensor b1p = MakeTensor<float>(DataType::kF32, {1}, {0.9f});
  Tensor b2p = MakeTensor<float>(DataType::kF32, {1}, {0.999f});
  auto out = RunKernel("fleet.adam", {param, grad, Lr(0.1f), m1, m2, b1p, b2p}, {}, 5);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_NEAR(param.data<float>()[0], 0.9f, 1e-5);
  EXPECT_NEAR(param.data<float>()[1], -0.9f, 1e-5);
}

// ---- Adagrad ----

template <typename T>
void CheckAdagrad(DataType dtype, double tol) {
  const std::vector<int64_t> shape = {7};
  const double lr = 0.2, eps = 1e-6, init = 0.1;
  Tensor param = Filled<T>(dtype, shape, InitValue);
  Tensor moment(dtype, shape);
  for (int i = 0; i < 7; ++i) moment.data<T>()[i] = static_cast<T>(init);
  std::vector<double> p(7), sum(7, init);
  for (int i = 0; i < 7; ++i) p[i] = InitValue(i);
  AttrMap attrs = {{"epsilon", AttrValue(static_cast<float>(eps))}};
  for (int t = 1; t <= kSteps; ++t) {
    auto out =
        RunKernel("fleet.adagrad", {param, GradAt<T>(dtype, shape, t), moment, Lr(lr)}, attrs, 2);
    ASSERT_TRUE(out.ok()) << out.status();
    EXPECT_EQ((*out)[0].raw_data(), param.raw_data());
    EXPECT_EQ((*out)[1].raw_data(), moment.raw_data());
    for (int i = 0; i < 7; ++i) {
      double g = GradValue(i, t);
      sum[i] += g * g;
      p[i] -= lr * g / (std::sqrt(sum[i]) + eps);
    }
    ExpectNear<T>(param, p, tol, "adagrad param step " + std::to_string(t));
    ExpectNear<T>(moment, sum, tol, "adagrad moment step " + std::to_string(t));
  }
}

TEST(AdagradTest, MatchesReferenceF32) { CheckAdagrad<float>(DataType::kF32, 1e-5); }
TEST(AdagradTest, MatchesReferenceF64) { CheckAdagrad<double>(DataType::kF64, 1e-6); }

// ---- bad inputs ----

TEST(OptimizerErrorTest, GradShapeMismatch) {
  Tensor param = Tensor::Zeros(DataType::kF32, {3, 4});
  Tensor grad = Tensor::Zeros(DataType::kF32, {4, 3});
  auto out = RunKernel("fleet.sgd", {param, grad, Lr(0.1f)}, {}, 1);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(out.status().message(), HasSubstr("input 'Grad' is f32[4,3]"));
  EXPECT_THAT(out.status().message(), HasSubstr("to match 'Param'"));
}

TEST(OptimizerErrorTest, StateDtypeMismatch) {
  Tensor param = Tensor::Zeros(DataType::kF32, {4});
  auto out = RunKernel(
      "fleet.momentum",
      {param, Tensor::Zeros(DataType::kF32, {4}), Tensor::Zeros(DataType::kF64, {4}), Lr(0.1f)}, {},
      2);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(out.status().message(), HasSubstr("input 'Velocity'"));
}

TEST(OptimizerErrorTest, LearningRateMustBeOneF32Element) {
  Tensor param = Tensor::Zeros(DataType::kF32, {4});
  Tensor grad = Tensor::Zeros(DataType::kF32, {4});
  auto two =
      RunKernel("fleet.sgd", {param, grad, MakeTensor<float>(DataType::kF32, {2}, {1, 2})}, {}, 1);
  ASSERT_FALSE(two.ok());
  EXPECT_EQ(two.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(two.status().message(), HasSubstr("input 'LearningRate' is f32[2]"));
  auto f64 = RunKernel("fleet.adagrad",
                       {param, grad, Tensor::Zeros(DataType::kF32, {4}),
                        MakeTensor<double>(DataType::kF64, {}, {0.1})},
                       {}, 2);
  ASSERT_FALSE(f64.ok());
  EXPECT_THAT(f64.status().message(), HasSubstr("expected a one-element f32 tensor"));
}

TEST(OptimizerErrorTest, BetaPowMustBeOneElement) {
  Tensor z = Tensor::Zeros(DataType::kF32, {3});
  auto out = RunKernel(
      "fleet.adam",
      {z, z.Clone(), Lr(0.1f), z.Clone(), z.Clone(), z.Clone(), Tensor::Zeros(DataType::kF32, {1})},
      {}, 5);
  ASSERT_FALSE(out.ok());
  EXPECT_THAT(out.status().message(), HasSubstr("input 'Beta1Pow'"));
}

TEST(OptimizerErrorTest, MissingInput) {
  Tensor z = Tensor::Zeros(DataType::kF32, {3});
  auto out = RunKernel("fleet.sgd", {z, Tensor(), Lr(0.1f)}, {}, 1);
  ASSERT_FALSE(out.ok());
  EXPECT_THAT(out.status().message(), HasSubstr("input 'Grad' is missing"));
}

TEST(OptimizerErrorTest, IntegerParamHasNoKernel) {
  Tensor z = Tensor::Zeros(DataType::kI32, {3});
  auto out = RunKernel("fleet.sgd", {z, z.Clone(), Lr(0.1f)}, {}, 1);
  ASSERT_FALSE(out.ok());
  EXPECT_THAT(std::string(out.status().message()), HasSubstr("f32"));
}

}  // namespace
}  // namespace fleet
