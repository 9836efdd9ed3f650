// Tests for the unary CPU kernels: math, activations, Clip, Not/IsNaN/IsInf, Cast and CastLike.
// Expected values are closed forms or literals from NumPy (snippets in comments).
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "executor/half.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/kernels/kernel_test_util.h"

namespace fleet {
namespace {

using ::testing::ElementsAre;
using ::testing::FloatNear;
using ::testing::HasSubstr;
using testing::MakeTensor;
using ::testing::Pointwise;
using testing::RunKernel;
using testing::ToVector;

// std::vector<bool> has no data(); bool tensors are built from bytes.
Tensor Bools(std::vector<int64_t> shape, const std::vector<uint8_t>& values) {
  return MakeTensor<uint8_t>(DataType::kBool, std::move(shape), values);
}

TEST(UnaryTest, ReluSigmoidExp) {
  Tensor x = MakeTensor<float>(DataType::kF32, {4}, {-2, -0.5f, 0, 3});
  auto out = RunKernel("Relu", {x}, {}, 1);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_THAT(ToVector<float>((*out)[0]), ElementsAre(0, 0, 0, 3));

  out = RunKernel("Sigmoid", {x}, {}, 1);
  ASSERT_TRUE(out.ok()) << out.status();
  std::vector<float> expect;
  for (float v : {-2.0f, -0.5f, 0.0f, 3.0f}) expect.push_back(1 / (1 + std::exp(-v)));
  EXPECT_THAT(ToVector<float>((*out)[0]), Pointwise(FloatNear(1e-6f), expect));

  out = RunKernel("LeakyRelu", {x}, {{"alpha", 0.1f}}, 1);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_THAT(ToVector<float>((*out)[0]),
              Pointwise(FloatNear(1e-7f), std::vector<float>{-0.2f, -0.05f, 0, 3}));
}

TEST(UnaryTest, RoundIsHalfToEven) {
  // np.round([0.5, 1.5, 2.5, -0.5, -2.5, 2.6]) -> [0., 2., 2., -0., -2., 3.]
  Tensor x = MakeTensor<float>(DataType::kF32, {6}, {0.5f, 1.5f, 2.5f, -0.5f, -2.5f, 2.6f});
  auto out = RunKernel("Round", {x}, {}, 1);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_THAT(ToVector<float>((*out)[0]), ElementsAre(0, 2, 2, 0, -2, 3));
}

TEST(UnaryTest, IntegerNegAbsSign) {
  const int32_t kMin = std::numeric_limits<int32_t>::min();
  Tensor x = MakeTensor<int32_t>(DataType::kI32, {4}, {-3, 0, 7, kMin});
  auto out = RunKernel("Neg", {x}, {}, 1);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_THAT(ToVector<int32_t>((*out)[0]), ElementsAre(3, 0, -7, kMin));
  out = RunKernel("Abs", {x}, {}, 1);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_THAT(ToVector<int32_t>((*out)[0]), ElementsAre(3, 0, 7, kMin));
  out = RunKernel("Sign", {x}, {}, 1);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_THAT(ToVector<int32_t>((*out)[0]), ElementsAre(-1, 0, 1, -1));
}

TEST(UnaryTest, HalfComputesThroughFloat) {
  Tensor x =
      MakeTensor<uint16_t>(DataType::kF16, {3}, {FloatToHalf(0), FloatToHalf(1), FloatToHalf(-2)});
  auto out = RunKernel("Exp", {x}, {}, 1);
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_EQ((*out)[0].dtype(), DataType::kF16);
  std::vector<uint16_t> y = ToVector<uint16_t>((*out)[0]);
  EXPECT_EQ(y[0], FloatToHalf(1));
  EXPECT_EQ(y[1], FloatToHalf(std::exp(1.0f)));
  EXPECT_EQ(y[2], FloatToHalf(std::exp(-2.0f)));
}

TEST(UnaryTest, WrongDtypeSaysWhatExists) {
  Tensor x = MakeTensor<int32_t>(DataType::kI32, {1}, {1});
  auto out = RunKernel("Exp", {x}, {}, 1);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_THAT(out.status().message(), HasSubstr("no kernel for Exp(i32)"));
}

TEST(ClipTest, AbsentMinAndMax) {
  Tensor x = MakeTensor<float>(DataType::kF32, {5}, {-5, -1, 0, 1, 5});
  Tensor hi = MakeTensor<float>(DataType::kF32, {}, {2});
  Tensor lo = MakeTensor<float>(DataType::kF32, {}, {-2});
  auto out = RunKernel("Clip", {x, Tensor(), hi}, {}, 1);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_THAT(ToVector<float>((*out)[0]), ElementsAre(-5, -1, 0, 1, 2));
  out = RunKernel("Clip", {x, lo}, {}, 1);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_THAT(ToVector<float>((*out)[0]), ElementsAre(-2, -1, 0, 1, 5));
  out = RunKernel("Clip", {x}, {}, 1);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_THAT(ToVector<float>((*out)[0]), ElementsAre(-5, -1, 0, 1, 5));

  Tensor xi = MakeTensor<int8_t>(DataType::kI8, {3}, {-128, 5, 127});
  Tensor hi8 = MakeTensor<int8_t>(DataType::kI8, {}, {100});
  out = RunKernel("Clip", {xi, Tensor(), hi8}, {}, 1);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_THAT(ToVector<int8_t>((*out)[0]), ElementsAre(-128, 5, 100));
}

TEST(ClipTest, RejectsNonScalarBound) {
  Tensor x = MakeTensor<float>(DataType::kF32, {2}, {1, 2});
  Tensor lo = MakeTensor<float>(DataType::kF32, {2}, {0, 0});
  auto out = RunKernel("Clip", {x, lo}, {}, 1);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(out.status().message(), HasSubstr("'min' is f32[2]; expected a scalar"));
}

TEST(PredicateTest, NotIsNanIsInf) {
  const float inf = std::numeric_limits<float>::infinity();
  Tensor x = MakeTensor<float>(DataType::kF32, {4}, {inf, -inf, std::nanf(""), 1});
  auto out = RunKernel("IsNaN", {x}, {}, 1);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_THAT(ToVector<bool>((*out)[0]), ElementsAre(false, false, true, false));
  out = RunKernel("IsInf", {x}, {{"detect_negative", int64_t{0}}}, 1);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_THAT(ToVector<bool>((*out)[0]), ElementsAre(true, false, false, false));
  Tensor b = Bools({2}, {1, 0});
  out = RunKernel("Not", {b}, {}, 1);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_THAT(ToVector<bool>((*out)[0]), ElementsAre(false, true));
}

TEST(CastTest, HalfRoundTrip) {
  // np.float16(1/3) == 0.333251953125 (bits 0x3555); 65520 overflows to inf; 1e-8 flushes to 0.
  Tensor x = MakeTensor<float>(DataType::kF32, {5}, {1.0f, 1.0f / 3, -2.5f, 65520.0f, 1e-8f});
  auto half = RunKernel("Cast", {x}, {{"to", int64_t{10}}}, 1);
  ASSERT_TRUE(half.ok()) << half.status();
  ASSERT_EQ((*half)[0].dtype(), DataType::kF16);
  EXPECT_THAT(ToVector<uint16_t>((*half)[0]), ElementsAre(0x3C00, 0x3555, 0xC100, 0x7C00, 0));
  auto back = RunKernel("Cast", {(*half)[0]}, {{"to", int64_t{1}}}, 1);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_THAT(ToVector<float>((*back)[0]),
              ElementsAre(1.0f, 0.333251953125f, -2.5f, std::numeric_limits<float>::infinity(), 0));
}

TEST(CastTest, FloatToIntTruncatesAndSaturates) {
  // np.array([2.7, -2.7, 1e10]).astype(np.int32)[:2] -> [2, -2]; Fleet saturates 1e10 and
  // maps NaN to 0 (undefined in C++).
  Tensor x = MakeTensor<float>(DataType::kF32, {4}, {2.7f, -2.7f, 1e10f, std::nanf("")});
  auto out = RunKernel("Cast", {x}, {{"to", int64_t{6}}}, 1);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_THAT(ToVector<int32_t>((*out)[0]),
              ElementsAre(2, -2, std::numeric_limits<int32_t>::max(), 0));
}

TEST(CastTest, IntWrapsAndBool) {
  // np.array([300, -1, 0]).astype(np.uint8) -> [44, 255, 0]
  Tensor x = MakeTensor<int64_t>(DataType::kI64, {3}, {300, -1, 0});
  auto out = RunKernel("Cast", {x}, {{"to", int64_t{2}}}, 1);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_THAT(ToVector<uint8_t>((*out)[0]), ElementsAre(44, 255, 0));
  out = RunKernel("Cast", {x}, {{"to", int64_t{9}}}, 1);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_THAT(ToVector<bool>((*out)[0]), ElementsAre(true, true, false));
  Tensor b = Bools({2}, {1, 0});
  out = RunKernel("Cast", {b}, {{"to", int64_t{11}}}, 1);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_THAT(ToVector<double>((*out)[0]), ElementsAre(1.0, 0.0));
}

TEST(CastTest, CastLikeAndUnsupportedTarget) {
  Tensor x = MakeTensor<double>(DataType::kF64, {2}, {1.5, -0.25});
  Tensor like = MakeTensor<float>(DataType::kF32, {}, {0});
  auto out = RunKernel("CastLike", {x, like}, {}, 1);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ((*out)[0].dtype(), DataType::kF32);
  EXPECT_THAT(ToVector<float>((*out)[0]), ElementsAre(1.5f, -0.25f));

  out = RunKernel("Cast", {x}, {{"to", int64_t{8}}}, 1);  // STRING
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_THAT(out.status().message(), HasSubstr("ONNX type 8"));
}

}  // namespace
}  // namespace fleet
