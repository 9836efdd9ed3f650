// Tests for the broadcasting helper and the binary / variadic elementwise CPU kernels.
// Expected values are closed forms computed in the test, or literals from NumPy (snippets in
// comments).
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kernels/cpu/broadcast.h"
#include "tests/kernels/kernel_test_util.h"

namespace fleet {
namespace {

using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;
using testing::MakeTensor;
using testing::RunKernel;
using testing::ToVector;

// std::vector<bool> has no data(); bool tensors are built from bytes.
Tensor Bools(std::vector<int64_t> shape, const std::vector<uint8_t>& values) {
  return MakeTensor<uint8_t>(DataType::kBool, std::move(shape), values);
}

std::vector<float> Iota(int64_t n, float start = 0) {
  std::vector<float> v(n);
  for (int64_t i = 0; i < n; ++i) v[i] = start + static_cast<float>(i);
  return v;
}

TEST(BroadcastTest, ShapesFollowNumpy) {
  EXPECT_EQ(*cpu::BroadcastShape({2, 3}, {3}), (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(*cpu::BroadcastShape({2, 1, 3}, {4, 1}), (std::vector<int64_t>{2, 4, 3}));
  EXPECT_EQ(*cpu::BroadcastShape({}, {5}), (std::vector<int64_t>{5}));
  EXPECT_EQ(*cpu::BroadcastShape({0, 1}, {1, 4}), (std::vector<int64_t>{0, 4}));
}

TEST(BroadcastTest, ErrorNamesBothShapes) {
  auto s = cpu::BroadcastShape({2, 3}, {4});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.status().message(), HasSubstr("[2,3] and [4]"));
  EXPECT_THAT(s.status().message(), HasSubstr("axis -1 has 3 vs 4"));
}

TEST(BroadcastTest, PlanMergesDims) {
  // Same shape: one contiguous row.
  auto same = *cpu::MakeBroadcastPlan({{2, 3, 4}, {2, 3, 4}});
  EXPECT_EQ(same.inner, 24);
  EXPECT_TRUE(same.outer_dims.empty());
  EXPECT_TRUE(same.IsContiguous(0) && same.IsContiguous(1));
  // Per-channel bias: rows of H*W with the bias constant along each row.
  auto bias = *cpu::MakeBroadcastPlan({{2, 3, 4, 5}, {3, 1, 1}});
  EXPECT_EQ(bias.inner, 20);
  EXPECT_EQ(bias.outer_dims, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(bias.inner_stride[1], 0);
  EXPECT_EQ(bias.outer_strides[1], (std::vector<int64_t>{0, 1}));
  EXPECT_FALSE(bias.IsContiguous(1));
  // Trailing vector.
  auto vec = *cpu::MakeBroadcastPlan({{6, 7}, {7}});
  EXPECT_EQ(vec.inner, 7);
  EXPECT_EQ(vec.outer_dims, (std::vector<int64_t>{6}));
  EXPECT_EQ(vec.outer_strides[1], (std::vector<int64_t>{0}));
}

TEST(AddTest, TrailingVectorAndScalar) {
  Tensor a = MakeTensor<float>(DataType::kF32, {2, 3}, {1, 2, 3, 4, 5, 6});
  Tensor b = MakeTensor<float>(DataType::kF32, {3}, {10, 20, 30});
  auto out = RunKernel("Add", {a, b}, {}, 1);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ((*out)[0].shape(), (std::vector<int64_t>{2, 3}));
  EXPECT_THAT(ToVector<float>((*out)[0]), ElementsAre(11, 22, 33, 14, 25, 36));

  Tensor s = MakeTensor<float>(DataType::kF32, {}, {0.5f});
  out = RunKernel("Sub", {s, a}, {}, 1);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_THAT(ToVector<float>((*out)[0]), ElementsAre(-0.5, -1.5, -2.5, -3.5, -4.5, -5.5));
}

TEST(AddTest, GeneralBroadcastBothSides) {
  // [2,1,3] + [4,1] -> [2,4,3]: out[i,j,k] = a[i,0,k] + b[j,0].
  std::vector<float> av = Iota(6), bv = {100, 200, 300, 400};
  Tensor a = MakeTensor<float>(DataType::kF32, {2, 1, 3}, av);
  Tensor b = MakeTensor<float>(DataType::kF32, {4, 1}, bv);
  auto out = RunKernel("Add", {a, b}, {}, 1);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ((*out)[0].shape(), (std::vector<int64_t>{2, 4, 3}));
  std::vector<float> expect;
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 4; ++j)
      for (int k = 0; k < 3; ++k) expect.push_back(av[i * 3 + k] + bv[j]);
  EXPECT_THAT(ToVector<float>((*out)[0]), ElementsAreArray(expect));
}

TEST(AddTest, ParallelStridedMatchesClosedForm) {
  // Big enough to split into chunks that start mid-row: [33,1,2000] * [1,50,1].
  const int64_t n0 = 33, n1 = 50, n2 = 2000;
  Tensor a = MakeTensor<float>(DataType::kF32, {n0, 1, n2}, Iota(n0 * n2));
  Tensor b = MakeTensor<float>(DataType::kF32, {1, n1, 1}, Iota(n1, 1));
  ThreadPool pool(3);
  auto out = RunKernel("Mul", {a, b}, {}, 1, &pool);
  ASSERT_TRUE(out.ok()) << out.status();
  const float* y = (*out)[0].data<float>();
  int64_t wrong = 0;
  for (int64_t i = 0; i < n0; ++i)
    for (int64_t j = 0; j < n1; ++j)
      for (int64_t k = 0; k < n2; ++k) {
        float expect = static_cast<float>(i * n2 + k) * static_cast<float>(j + 1);
        if (y[(i * n1 + j) * n2 + k] != expect) ++wrong;
      }
  EXPECT_EQ(wrong, 0);
}

TEST(AddTest, RowFastPathBiasAndPerRowScalar) {
  // The row fast path of BroadcastBinary: [rows, c] with [c] (bias) and with [rows, 1] (one
  // value per row), c = 37 so every row has a vector part and a scalar tail, split over a pool.
  const int64_t rows = 3001, c = 37;
  Tensor a = MakeTensor<float>(DataType::kF32, {rows, c}, Iota(rows * c));
  Tensor bias = MakeTensor<float>(DataType::kF32, {c}, Iota(c, 0.5f));
  Tensor per_row = MakeTensor<float>(DataType::kF32, {rows, 1}, Iota(rows, 1));
  ThreadPool pool(3);
  auto sum = RunKernel("Add", {a, bias}, {}, 1, &pool);
  ASSERT_TRUE(sum.ok()) << sum.status();
  auto quotient = RunKernel("Div", {a, per_row}, {}, 1, &pool);
  ASSERT_TRUE(quotient.ok()) << quotient.status();
  const float* s = (*sum)[0].data<float>();
  const float* q = (*quotient)[0].data<float>();
  int64_t wrong = 0;
  for (int64_t i = 0; i < rows; ++i) {
    for (int64_t k = 0; k < c; ++k) {
      const float x = static_cast<float>(i * c + k);
      if (s[i * c + k] != x + (static_cast<float>(k) + 0.5f)) ++wrong;
      if (q[i * c + k] != x / static_cast<float>(i + 1)) ++wrong;
    }
  }
  EXPECT_EQ(wrong, 0);
}

TEST(AddTest, NonBroadcastableShapesNameBoth) {
  Tensor a = MakeTensor<float>(DataType::kF32, {2, 3}, Iota(6));
  Tensor b = MakeTensor<float>(DataType::kF32, {4}, Iota(4));
  auto out = RunKernel("Add", {a, b}, {}, 1);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(out.status().message(), HasSubstr("(Add)"));
  EXPECT_THAT(out.status().message(), HasSubstr("[2,3] and [4]"));
}

TEST(AddTest, MixedDtypesRejected) {
  Tensor a = MakeTensor<float>(DataType::kF32, {2}, {1, 2});
  Tensor b = MakeTensor<int32_t>(DataType::kI32, {2}, {1, 2});
  auto out = RunKernel("Add", {a, b}, {}, 1);
  ASSERT_FALSE(out.ok());
  EXPECT_THAT(out.status().message(), HasSubstr("input 1 is i32[2]; expected dtype f32"));
}

TEST(DivTest, IntegerDivisionTruncatesTowardZero) {
  // C semantics: -7 / 2 == -3 (NumPy's // would give -4). Zero divisors give 0, and
  // INT32_MIN / -1 wraps instead of trapping.
  const int32_t kMin = std::numeric_limits<int32_t>::min();
  Tensor a = MakeTensor<int32_t>(DataType::kI32, {6}, {-7, 7, -7, 7, 5, kMin});
  Tensor b = MakeTensor<int32_t>(DataType::kI32, {6}, {2, -2, -2, 2, 0, -1});
  auto out = RunKernel("Div", {a, b}, {}, 1);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_THAT(ToVector<int32_t>((*out)[0]), ElementsAre(-3, -3, 3, 3, 0, kMin));

  Tensor c = MakeTensor<int64_t>(DataType::kI64, {3}, {-9, 9, 10});
  Tensor d = MakeTensor<int64_t>(DataType::kI64, {}, {4});
  out = RunKernel("Div", {c, d}, {}, 1);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_THAT(ToVector<int64_t>((*out)[0]), ElementsAre(-2, 2, 2));
}

TEST(AddTest, IntegerOverflowWraps) {
  // np.array([2**31 - 1], np.int32) + np.int32(1) -> [-2147483648]
  const int32_t kMax = std::numeric_limits<int32_t>::max();
  Tensor a = MakeTensor<int32_t>(DataType::kI32, {2}, {kMax, 5});
  Tensor b = MakeTensor<int32_t>(DataType::kI32, {}, {1});
  auto out = RunKernel("Add", {a, b}, {}, 1);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_THAT(ToVector<int32_t>((*out)[0]), ElementsAre(std::numeric_limits<int32_t>::min(), 6));
  Tensor u = MakeTensor<uint8_t>(DataType::kU8, {2}, {250, 3});
  Tensor v = MakeTensor<uint8_t>(DataType::kU8, {2}, {10, 5});
  out = RunKernel("Sub", {u, v}, {}, 1);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_THAT(ToVector<uint8_t>((*out)[0]), ElementsAre(240, 254));
}

TEST(ModTest, SignFollowsDivisorOrDividend) {
  // np.mod([-4, 7, 5, -3], [3, -3, 3, -2]) -> [2, -2, 2, -1]; np.fmod -> [-1, 1, 2, -1]
  Tensor a = MakeTensor<int64_t>(DataType::kI64, {4}, {-4, 7, 5, -3});
  Tensor b = MakeTensor<int64_t>(DataType::kI64, {4}, {3, -3, 3, -2});
  auto out = RunKernel("Mod", {a, b}, {}, 1);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_THAT(ToVector<int64_t>((*out)[0]), ElementsAre(2, -2, 2, -1));
  out = RunKernel("Mod", {a, b}, {{"fmod", int64_t{1}}}, 1);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_THAT(ToVector<int64_t>((*out)[0]), ElementsAre(-1, 1, 2, -1));

  // np.fmod([-4.5, 7.5], [2.0, -2.0]) -> [-0.5, 1.5]
  Tensor f = MakeTensor<float>(DataType::kF32, {2}, {-4.5f, 7.5f});
  Tensor g = MakeTensor<float>(DataType::kF32, {2}, {2.0f, -2.0f});
  out = RunKernel("Mod", {f, g}, {{"fmod", int64_t{1}}}, 1);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_THAT(ToVector<float>((*out)[0]), ElementsAre(-0.5f, 1.5f));
}

TEST(PowTest, FloatBaseWithIntAndFloatExponents) {
  Tensor x = MakeTensor<float>(DataType::kF32, {3}, {1, 2, 3});
  Tensor e = MakeTensor<int64_t>(DataType::kI64, {3}, {4, 5, 6});
  auto out = RunKernel("Pow", {x, e}, {}, 1);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ((*out)[0].dtype(), DataType::kF32);
  EXPECT_THAT(ToVector<float>((*out)[0]), ElementsAre(1, 32, 729));

  Tensor half = MakeTensor<float>(DataType::kF32, {}, {0.5f});
  Tensor sq = MakeTensor<float>(DataType::kF32, {2}, {4, 9});
  out = RunKernel("Pow", {sq, half}, {}, 1);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_THAT(ToVector<float>((*out)[0]), ElementsAre(2, 3));

  Tensor xi = MakeTensor<int32_t>(DataType::kI32, {3}, {2, -3, 5});
  Tensor ei = MakeTensor<int32_t>(DataType::kI32, {3}, {10, 3, 0});
  out = RunKernel("Pow", {xi, ei}, {}, 1);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_THAT(ToVector<int32_t>((*out)[0]), ElementsAre(1024, -27, 1));
}

TEST(CompareTest, OutputsBoolWithBroadcast) {
  Tensor a = MakeTensor<int32_t>(DataType::kI32, {2, 2}, {1, 5, 3, 2});
  Tensor b = MakeTensor<int32_t>(DataType::kI32, {2}, {3, 2});
  auto out = RunKernel("Less", {a, b}, {}, 1);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ((*out)[0].dtype(), DataType::kBool);
  EXPECT_THAT(ToVector<bool>((*out)[0]), ElementsAre(true, false, false, false));
  out = RunKernel("GreaterOrEqual", {a, b}, {}, 1);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_THAT(ToVector<bool>((*out)[0]), ElementsAre(false, true, true, true));
  out = RunKernel("Equal", {a, b}, {}, 1);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_THAT(ToVector<bool>((*out)[0]), ElementsAre(false, false, true, true));
}

TEST(LogicTest, AndOrXor) {
  Tensor a = Bools({4}, {1, 1, 0, 0});
  Tensor b = Bools({4}, {1, 0, 1, 0});
  auto out = RunKernel("Xor", {a, b}, {}, 1);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_THAT(ToVector<bool>((*out)[0]), ElementsAre(false, true, true, false));
  out = RunKernel("Or", {a, b}, {}, 1);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_THAT(ToVector<bool>((*out)[0]), ElementsAre(true, true, true, false));
}

TEST(WhereTest, BroadcastsAllThreeInputs) {
  // np.where([[True], [False]], [1, 2, 3], 0) -> [[1, 2, 3], [0, 0, 0]]
  Tensor c = Bools({2, 1}, {1, 0});
  Tensor x = MakeTensor<int64_t>(DataType::kI64, {3}, {1, 2, 3});
  Tensor y = MakeTensor<int64_t>(DataType::kI64, {}, {0});
  auto out = RunKernel("Where", {c, x, y}, {}, 1);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ((*out)[0].shape(), (std::vector<int64_t>{2, 3}));
  EXPECT_THAT(ToVector<int64_t>((*out)[0]), ElementsAre(1, 2, 3, 0, 0, 0));

  Tensor xf = MakeTensor<float>(DataType::kF32, {2}, {1.5f, 2.5f});
  Tensor yf = MakeTensor<float>(DataType::kF32, {2}, {-1, -2});
  Tensor c2 = Bools({2}, {0, 1});
  out = RunKernel("Where", {c2, xf, yf}, {}, 1);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_THAT(ToVector<float>((*out)[0]), ElementsAre(-1, 2.5f));

  Tensor bad = MakeTensor<int64_t>(DataType::kI64, {3}, {1, 2, 3});
  out = RunKernel("Where", {c2, bad, bad}, {}, 1);
  ASSERT_FALSE(out.ok());
  EXPECT_THAT(out.status().message(), HasSubstr("[2] and [3]"));
}

TEST(VariadicTest, SumMeanMaxMinBroadcast) {
  Tensor a = MakeTensor<float>(DataType::kF32, {3}, {1, 2, 3});
  Tensor b = MakeTensor<float>(DataType::kF32, {2, 1}, {10, 20});
  Tensor c = MakeTensor<float>(DataType::kF32, {}, {4});
  auto out = RunKernel("Sum", {a, b, c}, {}, 1);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ((*out)[0].shape(), (std::vector<int64_t>{2, 3}));
  EXPECT_THAT(ToVector<float>((*out)[0]), ElementsAre(15, 16, 17, 25, 26, 27));
  out = RunKernel("Mean", {a, b, c}, {}, 1);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_THAT(ToVector<float>((*out)[0]),
              ElementsAre(5, 16 / 3.0f, 17 / 3.0f, 25 / 3.0f, 26 / 3.0f, 9));
  out = RunKernel("Max", {a, c}, {}, 1);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_THAT(ToVector<float>((*out)[0]), ElementsAre(4, 4, 4));
  out = RunKernel("Min", {a}, {}, 1);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_THAT(ToVector<float>((*out)[0]), ElementsAre(1, 2, 3));

  Tensor bad = MakeTensor<float>(DataType::kF32, {2}, {1, 2});
  out = RunKernel("Sum", {a, c, bad}, {}, 1);
  ASSERT_FALSE(out.ok());
  EXPECT_THAT(out.status().message(), HasSubstr("input 2"));
  EXPECT_THAT(out.status().message(), HasSubstr("[3] and [2]"));
}

TEST(VariadicTest, MaxPropagatesNan) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  Tensor a = MakeTensor<float>(DataType::kF32, {2}, {nan, 1});
  Tensor b = MakeTensor<float>(DataType::kF32, {2}, {0, nan});
  auto out = RunKernel("Max", {a, b}, {}, 1);
  ASSERT_TRUE(out.ok()) << out.status();
  std::vector<float> y = ToVector<float>((*out)[0]);
  EXPECT_TRUE(std::isnan(y[0]));
  EXPECT_TRUE(std::isnan(y[1]));
}

TEST(PReluTest, ChannelSlope) {
  Tensor x = MakeTensor<float>(DataType::kF32, {1, 2, 2}, {-1, 2, -3, 4});
  Tensor slope = MakeTensor<float>(DataType::kF32, {2, 1}, {0.5f, 0.25f});
  auto out = RunKernel("PRelu", {x, slope}, {}, 1);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_THAT(ToVector<float>((*out)[0]), ElementsAre(-0.5f, 2, -0.75f, 4));

  Tensor big = MakeTensor<float>(DataType::kF32, {3, 2, 2}, Iota(12));
  out = RunKernel("PRelu", {x, big}, {}, 1);
  ASSERT_FALSE(out.ok());
  EXPECT_THAT(out.status().message(), HasSubstr("must broadcast to X's shape"));
}

}  // namespace
}  // namespace fleet
