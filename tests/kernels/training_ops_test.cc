// Tests for the training bookkeeping kernels (training.cc): fleet.fill_constant,
// fleet.increment, fleet.lr_schedule against closed forms of each schedule (torch's
// CosineAnnealingLR, StepLR, ExponentialLR; linear warm-up), and fleet.clip_by_global_norm
// (torch.nn.utils.clip_grad_norm_) on dense and sparse-rows gradients.
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
using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(FillConstantTest, FillsDtypeAndShape) {
  auto f = RunKernel("fleet.fill_constant", {},
                     {{"dtype", AttrValue(std::string("f64"))},
                      {"shape", AttrValue(std::vector<int64_t>{2, 3})},
                      {"value", AttrValue(0.5f)}},
                     1);
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ((*f)[0].TypeString(), "f64[2,3]");
  EXPECT_THAT(ToVector<double>((*f)[0]), ElementsAre(0.5, 0.5, 0.5, 0.5, 0.5, 0.5));
  auto i = RunKernel(
      "fleet.fill_constant", {},
      {{"dtype", AttrValue(std::string("i64"))}, {"shape", AttrValue(std::vector<int64_t>{1})}}, 1);
  ASSERT_TRUE(i.ok()) << i.status();
  EXPECT_THAT(ToVector<int64_t>((*i)[0]), ElementsAre(0));
}

TEST(FillConstantTest, BadDtypeAndShape) {
  auto dtype = RunKernel(
      "fleet.fill_constant", {},
      {{"dtype", AttrValue(std::string("float"))}, {"shape", AttrValue(std::vector<int64_t>{1})}},
      1);
  ASSERT_FALSE(dtype.ok());
  EXPECT_THAT(dtype.status().message(), HasSubstr("attribute 'dtype' is 'float'"));
  auto shape = RunKernel(
      "fleet.fill_constant", {},
      {{"dtype", AttrValue(std::string("f32"))}, {"shape", AttrValue(std::vector<int64_t>{-1})}},
      1);
  ASSERT_FALSE(shape.ok());
  EXPECT_EQ(shape.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(IncrementTest, AddsStep) {
  Tensor step = MakeTensor<int64_t>(DataType::kI64, {1}, {41});
  auto out = RunKernel("fleet.increment", {step}, {}, 1);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_THAT(ToVector<int64_t>((*out)[0]), ElementsAre(42));
  auto bad =
      RunKernel("fleet.increment", {MakeTensor<int64_t>(DataType::kI64, {2}, {1, 2})}, {}, 1);
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("expected a one-element i64 step counter"));
}

constexpr double kBase = 0.1, kMin = 0.01, kRate = 0.5;
constexpr int64_t kWarmup = 4, kDecaySteps = 10;
constexpr double kPi = 3.14159265358979323846;

absl::StatusOr<double> Scheduled(const std::string& decay, int64_t step, int64_t warmup,
                                 int64_t decay_steps) {
  AttrMap attrs = {{"base_lr", AttrValue(static_cast<float>(kBase))},
                   {"warmup_steps", AttrValue(warmup)},
                   {"decay", AttrValue(decay)},
                   {"decay_steps", AttrValue(decay_steps)},
                   {"decay_rate", AttrValue(static_cast<float>(kRate))},
                   {"min_lr", AttrValue(static_cast<float>(kMin))}};
  auto out =
      RunKernel("fleet.lr_schedule", {MakeTensor<int64_t>(DataType::kI64, {1}, {step})}, attrs, 1);
  if (!out.ok()) return out.status();
  EXPECT_EQ((*out)[0].TypeString(), "f32[1]");
  return static_cast<double>((*out)[0].data<float>()[0]);
}

void ExpectSchedule(const std::string& decay, double (*expected)(int64_t s)) {
  const double base = static_cast<float>(kBase);
  for (int64_t t = 0; t < 25; ++t) {
    absl::StatusOr<double> lr = Scheduled(decay, t, kWarmup, kDecaySteps);
    ASSERT_TRUE(lr.ok()) << lr.status();
    const double want = t < kWarmup ? base * t / kWarmup : expected(t - kWarmup);
    EXPECT_NEAR(*lr, want, 1e-7) << decay << " step " << t;
  }
}

TEST(LrScheduleTest, ConstantAfterWarmup) {
  ExpectSchedule("constant",
                 [](int64_t) { return static_cast<double>(static_cast<float>(kBase)); });
  absl::StatusOr<double> first = Scheduled("constant", 0, 0, 0);
  ASSERT_TRUE(first.ok());
  EXPECT_NEAR(*first, kBase, 1e-8);
}

TEST(LrScheduleTest, CosineIsCosineAnnealingHeldAtMin) {
  ExpectSchedule("cosine", [](int64_t s) {
    // CosineAnnealingLR's closed form, eta_t = eta_min + (eta_0 - eta_min)(1 + cos(pi t/T))/2.
    const double base = static_cast<float>(kBase), lo = static_cast<float>(kMin);
    if (s >= kDecaySteps) return lo;
    return lo + (base - lo) * (1 + std::cos(kPi * s / kDecaySteps)) / 2;
  });
}

TEST(LrScheduleTest, LinearReachesMin) {
  ExpectSchedule("linear", [](int64_t s) {
    const double base = static_cast<float>(kBase), lo = static_cast<float>(kMin);
    const double f = s >= kDecaySteps ? 1.0 : static_cast<double>(s) / kDecaySteps;
    return (1 - f) * base + f * lo;
  });
}

TEST(LrScheduleTest, StepIsStepLR) {
  ExpectSchedule("step", [](int64_t s) {
    // StepLR(step_size=10, gamma=0.5): halves at s = 10, 20, ... (floored at min_lr).
    double lr = static_cast<float>(kBase);
    for (int64_t k = kDecaySteps; k <= s; k += kDecaySteps) lr *= static_cast<float>(kRate);
    return std::max(lr, static_cast<double>(static_cast<float>(kMin)));
  });
}

TEST(LrScheduleTest, ExponentialIsExponentialLR) {
  // decay_steps 1: ExponentialLR(gamma = 0.5), lr_t = lr * 0.5^t, floored at min_lr.
  for (int64_t t = 0; t < 8; ++t) {
    absl::StatusOr<double> lr = Scheduled("exponential", t, 0, 1);
    ASSERT_TRUE(lr.ok()) << lr.status();
    double want = static_cast<float>(kBase);
    for (int64_t k = 0; k < t; ++k) want *= static_cast<float>(kRate);
    EXPECT_NEAR(*lr, std::max(want, static_cast<double>(static_cast<float>(kMin))), 1e-8) << t;
  }
  // decay_steps 10: a factor of 0.5 per 10 steps, continuously.
  absl::StatusOr<double> lr = Scheduled("exponential", 5, 0, 10);
  ASSERT_TRUE(lr.ok());
  EXPECT_NEAR(*lr, static_cast<float>(kBase) * std::sqrt(0.5), 1e-8);
}

TEST(LrScheduleTest, BadAttributes) {
  absl::StatusOr<double> steps = Scheduled("cosine", 3, 0, 0);
  ASSERT_FALSE(steps.ok());
  EXPECT_THAT(steps.status().message(), HasSubstr("decay 'cosine' needs decay_steps > 0"));
  absl::StatusOr<double> name = Scheduled("poly", 3, 0, 5);
  ASSERT_FALSE(name.ok());
  EXPECT_THAT(name.status().message(), HasSubstr("unknown decay 'poly'"));
  absl::StatusOr<double> negative = Scheduled("constant", -1, 0, 0);
  ASSERT_FALSE(negative.ok());
  EXPECT_EQ(negative.status().code(), absl::StatusCode::kInvalidArgument);
}

AttrMap MaxNorm(float n) { return {{"max_norm", AttrValue(n)}}; }

TEST(ClipByGlobalNormTest, ScalesAllGradientsByOneFactor) {
  // Global norm sqrt(9 + 16 + 144) = 13; max_norm 6.5 halves everything (up to the 1e-6).
  Tensor a = MakeTensor<float>(DataType::kF32, {2}, {3, 4});
  Tensor b = MakeTensor<float>(DataType::kF32, {1, 1}, {12});
  auto out = RunKernel("fleet.clip_by_global_norm", {a, b}, MaxNorm(6.5f), 2);
  ASSERT_TRUE(out.ok()) << out.status();
  const double scale = 6.5 / (13 + 1e-6);
  EXPECT_NEAR((*out)[0].data<float>()[0], 3 * scale, 1e-6);
  EXPECT_NEAR((*out)[0].data<float>()[1], 4 * scale, 1e-6);
  EXPECT_NEAR((*out)[1].data<float>()[0], 12 * scale, 1e-6);
  EXPECT_EQ((*out)[1].TypeString(), "f32[1,1]");
  EXPECT_NE((*out)[0].raw_data(), a.raw_data()) << "clipping must not change its inputs";
  EXPECT_EQ(a.data<float>()[0], 3);
}

TEST(ClipByGlobalNormTest, SmallNormPassesThrough) {
  Tensor a = MakeTensor<double>(DataType::kF64, {2}, {0.3, 0.4});
  auto out = RunKernel("fleet.clip_by_global_norm", {a}, MaxNorm(1.0f), 1);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ((*out)[0].raw_data(), a.raw_data());
}

TEST(ClipByGlobalNormTest, SparseRowsCountMergedRows) {
  // Rows {1: [3, 0], 1: [1, 0]} merge to row 1 = [4, 0]; with dense [3] the norm is 5, not
  // sqrt(9 + 1 + 9).
  Tensor values = MakeTensor<float>(DataType::kF32, {2, 2}, {3, 0, 1, 0});
  Tensor sparse = Tensor::SparseRows(values, MakeTensor<int64_t>(DataType::kI64, {2}, {1, 1}), 5);
  Tensor dense = MakeTensor<float>(DataType::kF32, {1}, {3});
  auto out = RunKernel("fleet.clip_by_global_norm", {sparse, dense}, MaxNorm(2.5f), 2);
  ASSERT_TRUE(out.ok()) << out.status();
  const double scale = 2.5 / (5 + 1e-6);
  const Tensor& s = (*out)[0];
  ASSERT_TRUE(s.is_sparse_rows());
  EXPECT_EQ(s.sparse_height(), 5);
  EXPECT_THAT(ToVector<int64_t>(s.rows()), ElementsAre(1));
  EXPECT_NEAR(s.data<float>()[0], 4 * scale, 1e-6);
  EXPECT_NEAR(s.data<float>()[1], 0, 1e-6);
  EXPECT_NEAR((*out)[1].data<float>()[0], 3 * scale, 1e-6);
}

TEST(ClipByGlobalNormTest, BadInputs) {
  Tensor a = MakeTensor<float>(DataType::kF32, {1}, {1});
  auto zero = RunKernel("fleet.clip_by_global_norm", {a}, MaxNorm(0.0f), 1);
  ASSERT_FALSE(zero.ok());
  EXPECT_THAT(zero.status().message(), HasSubstr("max_norm is 0; expected a number > 0"));
  auto mixed = RunKernel("fleet.clip_by_global_norm",
                         {a, MakeTensor<double>(DataType::kF64, {1}, {1})}, MaxNorm(1.0f), 2);
  ASSERT_FALSE(mixed.ok());
  EXPECT_THAT(mixed.status().message(), HasSubstr("expected the dtype of input 0"));
}

}  // namespace
}  // namespace fleet
