// Tests for MatMul, Gemm and Einsum against NumPy.
//
// Inputs follow one pattern, reproduced in Python as
//   def pat(shape, mul=7, mod=11):
//       n = int(np.prod(shape))
//       return ((np.arange(n) * mul % mod - mod // 2) *
//       0.25).astype(np.float32).reshape(shape)
// and the expected values are NumPy's, computed by the expression quoted at
// each test.
#include <cstdint>
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

template <typename T = float>
Tensor Pat(DataType dtype, std::vector<int64_t> shape, int64_t mul = 7, int64_t mod = 11) {
  std::vector<T> v(static_cast<size_t>(NumElements(shape)));
  for (size_t i = 0; i < v.size(); ++i) {
    v[i] = static_cast<T>((static_cast<int64_t>(i) * mul % mod - mod / 2) * 0.25);
  }
  return MakeTensor<T>(dtype, std::move(shape), v);
}

void ExpectNear(const Tensor& t, const std::vector<int64_t>& shape,
                const std::vector<float>& expected) {
  ASSERT_EQ(t.shape(), shape);
  std::vector<float> got = ToVector<float>(t);
  ASSERT_EQ(got.size(), expected.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], expected[i], 1e-5) << "at " << i;
}

Tensor Run1(const std::string& op, const std::vector<Tensor>& in, const AttrMap& attrs = {},
            ThreadPool* pool = nullptr) {
  auto out = RunKernel(op, in, attrs, 1, pool);
  EXPECT_TRUE(out.ok()) << out.status();
  return out.ok() ? (*out)[0] : Tensor();
}

absl::Status RunStatus(const std::string& op, const std::vector<Tensor>& in,
                       const AttrMap& attrs = {}) {
  return RunKernel(op, in, attrs, 1).status();
}

TEST(MatMulTest, TwoByThreeTimesThreeByTwo) {
  // Closed form: [[1,2,3],[4,5,6]] x [[1,0],[0,1],[1,1]] = [[4,5],[10,11]].
  Tensor a = MakeTensor<float>(DataType::kF32, {2, 3}, {1, 2, 3, 4, 5, 6});
  Tensor b = MakeTensor<float>(DataType::kF32, {3, 2}, {1, 0, 0, 1, 1, 1});
  ExpectNear(Run1("MatMul", {a, b}), {2, 2}, {4, 5, 10, 11});
}

TEST(MatMulTest, BroadcastsBatchDims) {
  // np.matmul(pat([2,1,2,3]), pat([3,3,2],5,7)); batch entries also split over
  // a pool.
  const std::vector<float> expected = {
      0.5625, -1,   -1.5, 0.3125, 0.8125, 0.5625, 0.1875, -1.5, -0.6875, 0.8125, 0.125, 0.1875,
      -1.5,   0.25, -1.5, 0.1875, 0.25,   -1.5,   0.3125, -1.5, 0.25,    0.25,   0.375, 0.3125};
  std::vector<Tensor> in = {Pat(DataType::kF32, {2, 1, 2, 3}),
                            Pat(DataType::kF32, {3, 3, 2}, 5, 7)};
  ExpectNear(Run1("MatMul", in), {2, 3, 2, 2}, expected);
  ThreadPool pool(3);
  ExpectNear(Run1("MatMul", in, {}, &pool), {2, 3, 2, 2}, expected);
}

TEST(MatMulTest, BatchedATimesMatrixUsesOneGemm) {
  // np.matmul(pat([2,3,4]), pat([4,5],5,7))
  Tensor y = Run1("MatMul", {Pat(DataType::kF32, {2, 3, 4}), Pat(DataType::kF32, {4, 5}, 5, 7)});
  ExpectNear(y, {2, 3, 5},
             {1.9375, -1.125, -1.125, 1.9375, -0.25,   -0.875, 1.0625, 0.8125, -0.75,  -0.5625,
              0.4375, -0.875, 0,      0,      -0.875,  -1,     1.3125, 0.5625, -0.625, -0.5,
              0.3125, -0.625, -0.25,  0.125,  -0.8125, 0.25,   -0.5,   -0.375, 0.1875, 1.625});
}

TEST(MatMulTest, PromotesOneDimensionalOperands) {
  Tensor v = Pat(DataType::kF32, {3});
  Tensor m = Pat(DataType::kF32, {3, 2}, 5, 7);
  // np.matmul(pat([3]), pat([3,2],5,7)) and np.matmul(pat([3,2],5,7).T,
  // pat([3]))
  ExpectNear(Run1("MatMul", {v, m}), {2}, {0.5625, -1});
  Tensor mt = MakeTensor<float>(DataType::kF32, {2, 3}, {-0.75, 0, 0.75, 0.5, -0.5, 0.25});
  ExpectNear(Run1("MatMul", {mt, v}), {2}, {0.5625, -1});
  // np.matmul(pat([3]), pat([3])) is a scalar.
  ExpectNear(Run1("MatMul", {v, v}), {}, {2.0625});
}

TEST(MatMulTest, DoubleAndIntegerTypes) {
  Tensor a = Pat<double>(DataType::kF64, {2, 1, 2, 3});
  Tensor b = Pat<double>(DataType::kF64, {3, 3, 2}, 5, 7);
  Tensor y = Run1("MatMul", {a, b});
  ASSERT_EQ(y.dtype(), DataType::kF64);
  EXPECT_DOUBLE_EQ(y.data<double>()[0], 0.5625);
  EXPECT_DOUBLE_EQ(y.data<double>()[23], 0.3125);
  // Integers: [[1,2],[3,4]] x [[5,6],[7,8]] = [[19,22],[43,50]], batch of 2
  // against one matrix.
  Tensor ai = MakeTensor<int64_t>(DataType::kI64, {2, 2, 2}, {1, 2, 3, 4, 1, 0, 0, 1});
  Tensor bi = MakeTensor<int64_t>(DataType::kI64, {2, 2}, {5, 6, 7, 8});
  Tensor yi = Run1("MatMul", {ai, bi});
  EXPECT_EQ(ToVector<int64_t>(yi), (std::vector<int64_t>{19, 22, 43, 50, 5, 6, 7, 8}));
  Tensor a32 = MakeTensor<int32_t>(DataType::kI32, {1, 2}, {2, -3});
  Tensor b32 = MakeTensor<int32_t>(DataType::kI32, {2, 2, 1}, {1, 1, 4, 2});
  EXPECT_EQ(ToVector<int32_t>(Run1("MatMul", {a32, b32})), (std::vector<int32_t>{-1, 2}));
}

TEST(MatMulTest, ZeroInnerDimGivesZeros) {
  Tensor a(DataType::kF32, {2, 0});
  Tensor b(DataType::kF32, {0, 3});
  ExpectNear(Run1("MatMul", {a, b}), {2, 3}, {0, 0, 0, 0, 0, 0});
}

TEST(MatMulTest, RejectsBadShapes) {
  absl::Status s =
      RunStatus("MatMul", {Tensor(DataType::kF32, {2, 4}), Tensor(DataType::kF32, {3, 5})});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("input 'B' has shape [3,5]; expected [...,4,N]"));
  s = RunStatus("MatMul", {Tensor(DataType::kF32, {2, 2, 4}), Tensor(DataType::kF32, {3, 4, 5})});
  EXPECT_THAT(s.message(), HasSubstr("do not broadcast (2 vs 3)"));
  s = RunStatus("MatMul", {Tensor(DataType::kF32, {}), Tensor(DataType::kF32, {3})});
  EXPECT_THAT(s.message(), HasSubstr("input 'A' is a scalar"));
  s = RunStatus("MatMul", {Tensor(DataType::kF32, {2, 3}), Tensor(DataType::kI64, {3, 2})});
  EXPECT_THAT(s.message(), HasSubstr("input 'B' is i64; expected f32"));
}

TEST(GemmTest, TransposesScalesAndBroadcastsC) {
  Tensor a = Pat(DataType::kF32, {4, 3});
  Tensor b = Pat(DataType::kF32, {5, 4}, 5, 7);
  // 0.5 * pat([4,3]).T @ pat([5,4],5,7).T + 2 * pat([5],3,5)
  AttrMap attrs = {{"transA", int64_t{1}}, {"transB", int64_t{1}}, {"alpha", 0.5f}, {"beta", 2.0f}};
  ExpectNear(Run1("Gemm", {a, b, Pat(DataType::kF32, {5}, 3, 5)}, attrs), {3, 5},
             {-0.40625, -0.21875, -0.78125, 0.5, 0.15625, -1.0625, 0.8125, -0.46875, 0.96875,
              -0.09375, -0.6875, 0.8125, -0.84375, 1.09375, -0.34375});
  // pat([4,3]).T @ pat([5,4],5,7).T + pat([3,1],3,5)
  AttrMap t = {{"transA", int64_t{1}}, {"transB", int64_t{1}}};
  ExpectNear(Run1("Gemm", {a, b, Pat(DataType::kF32, {3, 1}, 3, 5)}, t), {3, 5},
             {0.6875, -1.9375, -1.0625, -1.5, -0.1875, 0.125, 0.875, 0.3125, 0.1875, 0.0625, 0.375,
              0.375, -0.9375, -0.0625, -0.9375});
}

TEST(GemmTest, NoBiasAndScalarBias) {
  // [[1,2],[3,4]] x I + 10 (scalar C), and without C.
  Tensor a = MakeTensor<float>(DataType::kF32, {2, 2}, {1, 2, 3, 4});
  Tensor eye = MakeTensor<float>(DataType::kF32, {2, 2}, {1, 0, 0, 1});
  ExpectNear(Run1("Gemm", {a, eye}), {2, 2}, {1, 2, 3, 4});
  ExpectNear(Run1("Gemm", {a, eye, MakeTensor<float>(DataType::kF32, {}, {10})}), {2, 2},
             {11, 12, 13, 14});
  Tensor ai = MakeTensor<int64_t>(DataType::kI64, {1, 2}, {3, 4});
  Tensor bi = MakeTensor<int64_t>(DataType::kI64, {2, 1}, {5, 6});
  EXPECT_EQ(ToVector<int64_t>(Run1("Gemm", {ai, bi})), (std::vector<int64_t>{39}));
}

TEST(GemmTest, RejectsBadShapes) {
  absl::Status s =
      RunStatus("Gemm", {Tensor(DataType::kF32, {2, 3}), Tensor(DataType::kF32, {4, 5})});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("input 'B' has shape [4,5] (transB=0); expected [3,N]"));
  s = RunStatus("Gemm", {Tensor(DataType::kF32, {2, 3}), Tensor(DataType::kF32, {3, 5}),
                         Tensor(DataType::kF32, {3})});
  EXPECT_THAT(s.message(), HasSubstr("input 'C' has shape [3]; expected one that broadcasts "
                                     "to [2,5]"));
  s = RunStatus("Gemm", {Tensor(DataType::kF32, {2, 3, 1}), Tensor(DataType::kF32, {3, 5})});
  EXPECT_THAT(s.message(), HasSubstr("input 'A' has shape [2,3,1]; expected rank 2"));
}

Tensor Einsum(const std::string& eq, const std::vector<Tensor>& in) {
  return Run1("Einsum", in, {{"equation", eq}});
}

TEST(EinsumTest, MatrixProducts) {
  // np.einsum('bij,bjk->bik', pat([2,2,3]), pat([2,3,2],5,7))
  ExpectNear(Einsum("bij,bjk->bik",
                    {Pat(DataType::kF32, {2, 2, 3}), Pat(DataType::kF32, {2, 3, 2}, 5, 7)}),
             {2, 2, 2}, {0.5625, -1, -1.5, 0.3125, 0.25, -1.5, 0.3125, -1.5});
  // np.einsum('bij,bkj->bik', pat([2,2,3]), pat([2,2,3],5,7))
  ExpectNear(Einsum("bij,bkj->bik",
                    {Pat(DataType::kF32, {2, 2, 3}), Pat(DataType::kF32, {2, 2, 3}, 5, 7)}),
             {2, 2, 2}, {1.1875, 0.875, -0.8125, -0.625, -0.75, -0.75, -0.625, -0.8125});
  // np.einsum('ij,jk,kl->il', pat([2,3]), pat([3,4],5,7), pat([4,2],3,5))
  ExpectNear(
      Einsum("ij, jk, kl -> il", {Pat(DataType::kF32, {2, 3}), Pat(DataType::kF32, {3, 4}, 5, 7),
                                  Pat(DataType::kF32, {4, 2}, 3, 5)}),
      {2, 2}, {-0.4375, -0.015625, 0.046875, 0.25});
  // np.einsum('i,j', pat([2]), pat([3],5,7))
  ExpectNear(Einsum("i,j", {Pat(DataType::kF32, {2}), Pat(DataType::kF32, {3}, 5, 7)}), {2, 3},
             {0.9375, -0.625, 0, -0.375, 0.25, 0});
}

TEST(EinsumTest, EllipsisBroadcastsWithImplicitOutput) {
  // np.einsum('...ij,...jk', pat([2,1,2,3]), pat([3,3,2],5,7)) == np.matmul of
  // the same
  ExpectNear(Einsum("...ij,...jk",
                    {Pat(DataType::kF32, {2, 1, 2, 3}), Pat(DataType::kF32, {3, 3, 2}, 5, 7)}),
             {2, 3, 2, 2}, {0.5625,  -1,     -1.5,   0.3125, 0.8125, 0.5625, 0.1875, -1.5,
                            -0.6875, 0.8125, 0.125,  0.1875, -1.5,   0.25,   -1.5,   0.1875,
                            0.25,    -1.5,   0.3125, -1.5,   0.25,   0.25,   0.375,  0.3125});
}

TEST(EinsumTest, SingleOperandForms) {
  Tensor sq = Pat(DataType::kF32, {3, 3});
  ExpectNear(Einsum("ii->i", {sq}), {3}, {-1.25, 0.25, -1});  // np.einsum('ii->i', ...)
  ExpectNear(Einsum("ii", {sq}), {}, {-2});                   // trace
  // np.einsum('ijk->j', pat([2,3,4])), np.einsum('ijk->kij', pat([2,3,2]))
  ExpectNear(Einsum("ijk->j", {Pat(DataType::kF32, {2, 3, 4})}), {3}, {1.5, -0.25, -2});
  ExpectNear(Einsum("ijk->kij", {Pat(DataType::kF32, {2, 3, 2})}), {2, 2, 3},
             {-1.25, -0.5, 0.25, 1, -1, -0.25, 0.5, 1.25, -0.75, 0, 0.75, -1.25});
  // np.einsum('...ii->...i', pat([2,3,3]))
  ExpectNear(Einsum("...ii->...i", {Pat(DataType::kF32, {2, 3, 3})}), {2, 3},
             {-1.25, 0.25, -1, 0.75, -0.5, 1});
}

TEST(EinsumTest, IntegerInputs) {
  Tensor a = MakeTensor<int64_t>(DataType::kI64, {2, 2}, {1, 2, 3, 4});
  Tensor b = MakeTensor<int64_t>(DataType::kI64, {2, 2}, {5, 6, 7, 8});
  Tensor y = Run1("Einsum", {a, b}, {{"equation", std::string("ij,jk->ik")}});
  EXPECT_EQ(ToVector<int64_t>(y), (std::vector<int64_t>{19, 22, 43, 50}));
}

TEST(EinsumTest, RejectsBadEquations) {
  Tensor a(DataType::kF32, {2, 3});
  Tensor b(DataType::kF32, {4, 5});
  auto run = [](const std::string& eq, const std::vector<Tensor>& in) {
    return RunKernel("Einsum", in, {{"equation", eq}}, 1).status();
  };
  absl::Status s = run("ij,jk->ik", {a, b});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("input 1 f32[4,5] has size 4 for label 'j'; expected 3"));
  EXPECT_THAT(run("ij->ik", {a}).message(), HasSubstr("output label 'k' that no input has"));
  EXPECT_THAT(run("ijk->i", {a}).message(), HasSubstr("has 3 labels but the input has rank 2"));
  EXPECT_THAT(run("ij,jk", {a}).message(), HasSubstr("has 2 input terms; the op has 1 inputs"));
  EXPECT_THAT(run("i1->i", {a}).message(), HasSubstr("has the character '1'"));
  EXPECT_THAT(run("ij->ii", {a}).message(), HasSubstr("repeats a label in the output"));
  EXPECT_THAT(run("ii->i", {a}).message(), HasSubstr("has size 3 for label 'i'; expected 2"));
}

}  // namespace
}  // namespace fleet
