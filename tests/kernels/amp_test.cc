// Tests for mixed precision's CPU kernels (kernels/cpu/amp.cc, kernels/cpu/in_float.h):
// unscaling and the finite check against values computed here, the loss-scale rule over a
// sequence of steps against GradScaler's rule written out, the f16 and bf16 GEMMs and
// convolutions against the f32 kernels on the same (16-bit representable) values, rounded once,
// and bf16's rounding and casts against values worked out by hand.
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "executor/half.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "ir/bfloat16.h"
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

// 16-bit tensors (f16 or bf16) holding values exactly representable in them, and the same
// values in f32.
uint16_t Narrow(DataType half, float v) {
  return half == DataType::kBF16 ? FloatToBFloat16(v) : FloatToHalf(v);
}

float Widen(DataType half, uint16_t bits) {
  return half == DataType::kBF16 ? BFloat16ToFloat(bits) : HalfToFloat(bits);
}

Tensor HalfOf(const std::vector<int64_t>& shape, int seed, DataType half = DataType::kF16) {
  Tensor t(half, shape);
  for (int64_t i = 0; i < t.numel(); ++i) {
    t.data<uint16_t>()[i] = Narrow(half, std::sin(0.9f * static_cast<float>(i) + seed) * 2.0f);
  }
  return t;
}

Tensor FloatOf(const Tensor& half) {
  Tensor t(DataType::kF32, half.shape());
  for (int64_t i = 0; i < t.numel(); ++i) {
    t.data<float>()[i] = Widen(half.dtype(), half.data<uint16_t>()[i]);
  }
  return t;
}

// The 16-bit kernel gives the f32 kernel's result rounded once to the inputs' 16-bit type.
void ExpectHalfMatchesF32(const std::string& op, const std::vector<Tensor>& halves,
                          const AttrMap& attrs, int num_outputs) {
  const DataType type = halves.front().dtype();
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
    ASSERT_EQ(h.dtype(), type) << op << " output " << o;
    ASSERT_EQ(h.shape(), f.shape()) << op << " output " << o;
    for (int64_t i = 0; i < f.numel(); ++i) {
      ASSERT_EQ(h.data<uint16_t>()[i], Narrow(type, f.data<float>()[i]))
          << op << " " << DataTypeName(type) << " [" << i << "]";
    }
  }
}

void ExpectGemmsAndConvolutionsInFloat(DataType type) {
  auto half = [type](const std::vector<int64_t>& shape, int seed) {
    return HalfOf(shape, seed, type);
  };
  ExpectHalfMatchesF32("MatMul", {half({2, 3, 4}, 1), half({4, 5}, 2)}, {}, 1);
  ExpectHalfMatchesF32("Gemm", {half({3, 4}, 3), half({5, 4}, 4), half({5}, 5)},
                       {{"transB", AttrValue(int64_t{1})}}, 1);
  ExpectHalfMatchesF32("fleet.matmul_grad_a",
                       {half({2, 3, 4}, 1), half({4, 5}, 2), half({2, 3, 5}, 6)}, {}, 1);
  ExpectHalfMatchesF32("fleet.matmul_grad_b",
                       {half({2, 3, 4}, 1), half({4, 5}, 2), half({2, 3, 5}, 6)}, {}, 1);
  const AttrMap pads = {{"pads", AttrValue(std::vector<int64_t>{1, 1, 1, 1})}};
  ExpectHalfMatchesF32("Conv", {half({1, 2, 5, 5}, 7), half({3, 2, 3, 3}, 8), half({3}, 9)}, pads,
                       1);
  const std::vector<Tensor> conv = {half({1, 2, 5, 5}, 7), half({3, 2, 3, 3}, 8),
                                    half({1, 3, 5, 5}, 10)};
  ExpectHalfMatchesF32("fleet.conv_grad_input", conv, pads, 1);
  ExpectHalfMatchesF32("fleet.conv_grad_filter", conv, pads, 2);
}

TEST(InFloatTest, HalfGemmsAndConvolutionsAreTheFloatKernelsRoundedOnce) {
  ExpectGemmsAndConvolutionsInFloat(DataType::kF16);
}

TEST(InFloatTest, BFloat16GemmsAndConvolutionsAreTheFloatKernelsRoundedOnce) {
  ExpectGemmsAndConvolutionsInFloat(DataType::kBF16);
}

TEST(InFloatTest, RefusesOperandsOfTwoSixteenBitTypes) {
  auto out = RunKernel("MatMul", {HalfOf({2, 3}, 1), HalfOf({3, 2}, 2, DataType::kBF16)}, {}, 1);
  ASSERT_FALSE(out.ok());
  EXPECT_THAT(out.status().message(), HasSubstr("expected f16 like the op's other 16-bit inputs"));
}

// bf16 rounding, against values worked out by hand: bf16 keeps 7 mantissa bits, so its step
// just above 1 is 2^-7, and halfway cases go to the even neighbour.
TEST(BFloat16Test, RoundsToNearestEvenAndKeepsInfAndNaN) {
  const float ulp = std::ldexp(1.0f, -7);
  EXPECT_EQ(BFloat16ToFloat(FloatToBFloat16(1.0f)), 1.0f);
  EXPECT_EQ(FloatToBFloat16(1.0f), 0x3f80);
  EXPECT_EQ(FloatToBFloat16(-2.0f), 0xc000);
  EXPECT_EQ(BFloat16ToFloat(FloatToBFloat16(1.0f + 0.5f * ulp)), 1.0f);  // tie: to even (1)
  EXPECT_EQ(BFloat16ToFloat(FloatToBFloat16(1.0f + 1.5f * ulp)), 1.0f + 2 * ulp);  // tie: up
  EXPECT_EQ(BFloat16ToFloat(FloatToBFloat16(1.0f + 0.6f * ulp)), 1.0f + ulp);
  // f32's range, not f16's: 3e38 is 1.7632 * 2^127, and 1.7632 rounds to 226/128.
  EXPECT_EQ(BFloat16ToFloat(FloatToBFloat16(3e38f)), std::ldexp(226.0f, 120));
  EXPECT_EQ(BFloat16ToFloat(FloatToBFloat16(std::numeric_limits<float>::max())),
            std::numeric_limits<float>::infinity());  // rounds past the largest bf16
  EXPECT_EQ(FloatToBFloat16(-std::numeric_limits<float>::infinity()), 0xff80);
  EXPECT_TRUE(std::isnan(BFloat16ToFloat(FloatToBFloat16(std::nanf("")))));
  // The NaN whose payload lies only in the dropped bits stays a NaN, not inf.
  const uint32_t low_nan_bits = 0x7f800001u;
  float low_nan;
  std::memcpy(&low_nan, &low_nan_bits, sizeof(low_nan));
  EXPECT_TRUE(std::isnan(BFloat16ToFloat(FloatToBFloat16(low_nan))));
}

// Cast between f32 and bf16 and on to other types goes through f32 like f16.
TEST(BFloat16Test, CastsToAndFromOtherTypes) {
  const AttrMap to_bf16 = {{"to", AttrValue(int64_t{16})}};
  auto narrowed =
      RunKernel("Cast", {MakeTensor<float>(DataType::kF32, {3}, {1.0f, -0.1f, 1e30f})}, to_bf16, 1);
  ASSERT_TRUE(narrowed.ok()) << narrowed.status();
  ASSERT_EQ((*narrowed)[0].dtype(), DataType::kBF16);
  const uint16_t* bits = (*narrowed)[0].data<uint16_t>();
  EXPECT_EQ(bits[0], 0x3f80);
  EXPECT_EQ(BFloat16ToFloat(bits[1]), -0.10009765625f);  // -0x3dcd: the nearest bf16 to -0.1
  EXPECT_NEAR(BFloat16ToFloat(bits[2]), 1e30f, 1e30f / 256);
  auto to_int = RunKernel("Cast", {(*narrowed)[0]}, {{"to", AttrValue(int64_t{7})}}, 1);
  ASSERT_TRUE(to_int.ok()) << to_int.status();
  ASSERT_EQ((*to_int)[0].dtype(), DataType::kI64);
  EXPECT_EQ((*to_int)[0].data<int64_t>()[0], 1);
  EXPECT_EQ((*to_int)[0].data<int64_t>()[1], 0);
}

}  // namespace
}  // namespace fleet
