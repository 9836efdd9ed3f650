// Tests for mixed precision's CPU kernels (kernels/cpu/amp.cc, kernels/cpu/in_float.h):
// unscaling and the finite check against values computed here, the loss-scale rule over a
// sequence of steps against GradScaler's rule written out, and the f16 GEMMs and convolution
// against the f32 kernels on the same (f16-representable) values, rounded once to f16.
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "executor/half.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/kernels/kernel_test_util.h"

namespace fleet {
namespace {

using ::fleet::testing::MakeTensor;
using ::fleet::testing::RunKernel;
using ::testing::HasSubstr;

Tensor Scalar(float v) { return MakeTensor<float>(DataType::kF32, {}, {v}); }

Tensor Flag(bool v) {
  Tensor t(DataType::kBool, {});
  *t.data<bool>() = v;
  return t;
}

TEST(CheckFiniteAndUnscaleTest, DividesEveryGradientInPlaceAndSaysTheyAreFinite) {
  Tensor a = MakeTensor<float>(DataType::kF32, {2, 2}, {8, -4, 2, 0.5f});
  Tensor values = MakeTensor<float>(DataType::kF32, {2, 2}, {16, 32, -64, 1});
  Tensor rows = Tensor::SparseRows(values, MakeTensor<int64_t>(DataType::kI64, {2}, {3, 0}), 5);
  const float* a_buffer = a.data<float>();
  auto out = RunKernel("fleet.check_finite_and_unscale", {a, rows, Scalar(4)}, {}, 3);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ((*out)[0].data<float>(), a_buffer) << "not in place";
  EXPECT_THAT(testing::ToVector<float>((*out)[0]), ::testing::ElementsAre(2, -1, 0.5f, 0.125f));
  ASSERT_TRUE((*out)[1].is_sparse_rows());
  EXPECT_THAT(testing::ToVector<float>((*out)[1]), ::testing::ElementsAre(4, 8, -16, 0.25f));
  EXPECT_THAT(testing::ToVector<int64_t>((*out)[1].rows()), ::testing::ElementsAre(3, 0));
  EXPECT_EQ((*out)[1].sparse_height(), 5);
  ASSERT_EQ((*out)[2].dtype(), DataType::kBool);
  EXPECT_EQ((*out)[2].rank(), 0);
  EXPECT_TRUE(*(*out)[2].data<bool>());
}

TEST(CheckFiniteAndUnscaleTest, AnInfOrANaNAnywhereMakesTheStepNotFinite) {
  for (float bad : {std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity(),
                    std::numeric_limits<float>::quiet_NaN()}) {
    // A large gradient, so that the unscaled values span several parallel chunks.
    Tensor big(DataType::kF32, {1 << 16});
    for (int64_t i = 0; i < big.numel(); ++i) big.data<float>()[i] = 1.0f;
    big.data<float>()[big.numel() - 7] = bad;
    Tensor small = MakeTensor<float>(DataType::kF32, {2}, {1, 2});
    ThreadPool pool(2);
    auto out = RunKernel("fleet.check_finite_and_unscale", {small, big, Scalar(2)}, {}, 3, &pool);
    ASSERT_TRUE(out.ok()) << out.status();
    EXPECT_FALSE(*(*out)[2].data<bool>()) << bad;
  }
}

TEST(CheckFiniteAndUnscaleTest, RefusesABadScaleOrMismatchedOutputs) {
  Tensor g = MakeTensor<float>(DataType::kF32, {2}, {1, 2});
  auto zero = RunKernel("fleet.check_finite_and_unscale", {g, Scalar(0)}, {}, 2);
  ASSERT_FALSE(zero.ok());
  EXPECT_THAT(zero.status().message(), HasSubstr("loss scale 0; expected a finite value > 0"));
  auto two = RunKernel("fleet.check_finite_and_unscale",
                       {g, MakeTensor<float>(DataType::kF32, {2}, {1, 2})}, {}, 2);
  ASSERT_FALSE(two.ok());
  EXPECT_THAT(two.status().message(), HasSubstr("input 'Scale' is f32[2]; expected one f32"));
  auto outputs = RunKernel("fleet.check_finite_and_unscale", {g, Scalar(1)}, {}, 3);
  ASSERT_FALSE(outputs.ok());
  EXPECT_THAT(outputs.status().message(), HasSubstr("expected inputs X..., Scale"));
}

// torch.cuda.amp.GradScaler.update, written out: backoff on inf/NaN, growth after `interval`
// finite steps in a row.
struct ReferenceScaler {
  double scale;
  int64_t good = 0;
  int64_t interval;
  int64_t skipped = 0;
  void Step(bool finite) {
    if (!finite) {
      scale *= 0.5;
      good = 0;
      ++skipped;
      return;
    }
    if (++good == interval) {
      scale *= 2.0;
      good = 0;
    }
  }
};

TEST(UpdateLossScalingTest, FollowsGradScalersRuleOverManySteps) {
  const AttrMap attrs = {{"incr_every_n_steps", AttrValue(int64_t{3})}};
  ReferenceScaler reference{1024.0, 0, 3};
  Tensor scale = Scalar(1024);
  Tensor good = MakeTensor<int64_t>(DataType::kI64, {}, {0});
  Tensor skipped = MakeTensor<int64_t>(DataType::kI64, {}, {0});
  const std::vector<bool> finite = {true, true, true, true, false, true,  true,
                                    true, true, true, true, false, false, true};
  for (size_t step = 0; step < finite.size(); ++step) {
    Tensor flag = Flag(finite[step]);
    auto out = RunKernel("fleet.update_loss_scaling", {flag, scale, good, skipped}, attrs, 3);
    ASSERT_TRUE(out.ok()) << out.status();
    reference.Step(finite[step]);
    EXPECT_EQ(*(*out)[2].data<int64_t>(), reference.skipped) << "step " << step;
    EXPECT_EQ(*(*out)[0].data<float>(), reference.scale) << "step " << step;
    EXPECT_EQ(*(*out)[1].data<int64_t>(), reference.good) << "step " << step;
    EXPECT_EQ((*out)[0].data<float>(), scale.data<float>()) << "not in place";
    scale = (*out)[0];
    good = (*out)[1];
    skipped = (*out)[2];
  }
}

TEST(UpdateLossScalingTest, RefusesRatiosAndPeriodsThatMakeNoSense) {
  Tensor flag = Flag(true);
  Tensor good = MakeTensor<int64_t>(DataType::kI64, {}, {0});
  const std::vector<std::pair<AttrMap, std::string>> cases = {
      {{{"incr_every_n_steps", AttrValue(int64_t{0})}}, "attribute incr_every_n_steps=0"},
      {{{"incr_ratio", AttrValue(0.5f)}}, "attribute incr_ratio=0.5"},
      {{{"decr_ratio", AttrValue(0.0f)}}, "attribute decr_ratio=0"},
      {{{"decr_ratio", AttrValue(2.0f)}}, "attribute decr_ratio=2"}};
  for (const auto& [attrs, message] : cases) {
    auto out = RunKernel("fleet.update_loss_scaling", {flag, Scalar(8), good, good}, attrs, 3);
    ASSERT_FALSE(out.ok()) << message;
    EXPECT_THAT(out.status().message(), HasSubstr(message));
  }
}

// f16 tensors holding values exactly representable in f16, and the same values in f32.
Tensor HalfOf(const std::vector<int64_t>& shape, int seed) {
  Tensor t(DataType::kF16, shape);
  for (int64_t i = 0; i < t.numel(); ++i) {
    t.data<uint16_t>()[i] = FloatToHalf(std::sin(0.9f * static_cast<float>(i) + seed) * 2.0f);
  }
  return t;
}

Tensor FloatOf(const Tensor& half) {
  Tensor t(DataType::kF32, half.shape());
  for (int64_t i = 0; i < t.numel(); ++i)
    t.data<float>()[i] = HalfToFloat(half.data<uint16_t>()[i]);
  return t;
}

// The f16 kernel gives the f32 kernel's result rounded once to f16.
void ExpectF16MatchesF32(const std::string& op, const std::vector<Tensor>& halves,
                         const AttrMap& attrs, int num_outputs) {
  std::vector<Tensor> floats;
  for (const Tensor& h : halves) floats.push_back(FloatOf(h));
  auto half = RunKernel(op, halves, attrs, num_outputs);
  auto full = RunKernel(op, floats, attrs, num_outputs);
  ASSERT_TRUE(half.ok()) << op << ": " << half.status();
  ASSERT_TRUE(full.ok()) << op << ": " << full.status();
  for (int o = 0; o < num_outputs; ++o) {
    const Tensor& h = (*half)[o];
    const Tensor& f = (*full)[o];
    if (!f.defined()) continue;
    ASSERT_EQ(h.dtype(), DataType::kF16) << op << " output " << o;
    ASSERT_EQ(h.shape(), f.shape()) << op << " output " << o;
    for (int64_t i = 0; i < f.numel(); ++i) {
      ASSERT_EQ(h.data<uint16_t>()[i], FloatToHalf(f.data<float>()[i])) << op << " [" << i << "]";
    }
  }
}

TEST(InFloatTest, HalfGemmsAndConvolutionsAreTheFloatKernelsRoundedOnce) {
  ExpectF16MatchesF32("MatMul", {HalfOf({2, 3, 4}, 1), HalfOf({4, 5}, 2)}, {}, 1);
  ExpectF16MatchesF32("Gemm", {HalfOf({3, 4}, 3), HalfOf({5, 4}, 4), HalfOf({5}, 5)},
                      {{"transB", AttrValue(int64_t{1})}}, 1);
  ExpectF16MatchesF32("fleet.matmul_grad_a",
                      {HalfOf({2, 3, 4}, 1), HalfOf({4, 5}, 2), HalfOf({2, 3, 5}, 6)}, {}, 1);
  ExpectF16MatchesF32("fleet.matmul_grad_b",
                      {HalfOf({2, 3, 4}, 1), HalfOf({4, 5}, 2), HalfOf({2, 3, 5}, 6)}, {}, 1);
  ExpectF16MatchesF32("Conv", {HalfOf({1, 2, 5, 5}, 7), HalfOf({3, 2, 3, 3}, 8), HalfOf({3}, 9)},
                      {{"pads", AttrValue(std::vector<int64_t>{1, 1, 1, 1})}}, 1);
  const AttrMap pads = {{"pads", AttrValue(std::vector<int64_t>{1, 1, 1, 1})}};
  const std::vector<Tensor> conv = {HalfOf({1, 2, 5, 5}, 7), HalfOf({3, 2, 3, 3}, 8),
                                    HalfOf({1, 3, 5, 5}, 10)};
  ExpectF16MatchesF32("fleet.conv_grad_input", conv, pads, 1);
  ExpectF16MatchesF32("fleet.conv_grad_filter", conv, pads, 2);
}

}  // namespace
}  // namespace fleet
