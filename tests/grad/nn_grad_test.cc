// Finite-difference checks of the matrix-product rules: Gemm (every transpose combination,
// alpha, beta, a broadcast C) and MatMul (2-D, batched, broadcast batch dims, 1-D operands).
#include <string>

#include "absl/strings/str_cat.h"
#include "tests/grad/grad_check.h"

namespace fleet {
namespace {

using testing_util::ExpectGradientsMatch;

// Y = Gemm(A, B, C) with A, B stored transposed as the flags say; A: op(A) [3,4], B: op(B) [4,2].
std::string GemmProgram(bool ta, bool tb, const std::string& c_shape, const std::string& attrs) {
  const std::string a = ta ? "[4,3]" : "[3,4]";
  const std::string b = tb ? "[2,4]" : "[4,2]";
  return absl::StrCat(R"(fleet.program v1 opset=17
block 0 {
  var %a : f64)",
                      a, R"( parameter
  var %b : f64)",
                      b, R"( parameter
  var %c : f64)",
                      c_shape, R"( parameter
  var %y : f64[3,2] fetch
  (Y: %y) = Gemm(A: %a, B: %b, C: %c) {transA = )",
                      ta ? 1 : 0, ", transB = ", tb ? 1 : 0, attrs, R"(}
})");
}

TEST(GemmGrad, AllTransposeCombinations) {
  for (bool ta : {false, true}) {
    for (bool tb : {false, true}) {
      SCOPED_TRACE(absl::StrCat("transA ", ta, " transB ", tb));
      ExpectGradientsMatch(GemmProgram(ta, tb, "[3,2]", ""));
    }
  }
}

TEST(GemmGrad, AlphaBetaAndARowBroadcastC) {
  for (bool ta : {false, true}) {
    for (bool tb : {false, true}) {
      SCOPED_TRACE(absl::StrCat("transA ", ta, " transB ", tb));
      ExpectGradientsMatch(GemmProgram(ta, tb, "[2]", ", alpha = 0.75, beta = -1.5"));
    }
  }
}

TEST(GemmGrad, ColumnAndScalarC) {
  ExpectGradientsMatch(GemmProgram(false, true, "[3,1]", ", beta = 2.0"));
  ExpectGradientsMatch(GemmProgram(true, false, "[]", ", alpha = 3.0"));
}

TEST(GemmGrad, NoC) {
  ExpectGradientsMatch(R"(fleet.program v1 opset=17
block 0 {
  var %a : f64[4,3] parameter
  var %b : f64[4,5] parameter
  var %y : f64[3,5] fetch
  (Y: %y) = Gemm(A: %a, B: %b) {transA = 1, alpha = 0.5}
})");
}

TEST(MatMulGrad, TwoD) {
  ExpectGradientsMatch(R"(fleet.program v1 opset=17
block 0 {
  var %a : f64[3,4] parameter
  var %b : f64[4,5] parameter
  var %y : f64[3,5] fetch
  (Y: %y) = MatMul(A: %a, B: %b)
})");
}

TEST(MatMulGrad, BatchedTimesMatrix) {
  ExpectGradientsMatch(R"(fleet.program v1 opset=17
block 0 {
  var %a : f64[2,3,3,4] parameter
  var %b : f64[4,2] parameter
  var %y : f64[2,3,3,2] fetch
  (Y: %y) = MatMul(A: %a, B: %b)
})");
}

TEST(MatMulGrad, BothBatched) {
  ExpectGradientsMatch(R"(fleet.program v1 opset=17
block 0 {
  var %a : f64[2,3,4] parameter
  var %b : f64[2,4,2] parameter
  var %y : f64[2,3,2] fetch
  (Y: %y) = MatMul(A: %a, B: %b)
})");
}

TEST(MatMulGrad, BroadcastBatchDims) {
  // A broadcasts over B's leading dim and B over A's second dim.
  ExpectGradientsMatch(R"(fleet.program v1 opset=17
block 0 {
  var %a : f64[1,3,2,4] parameter
  var %b : f64[2,1,4,3] parameter
  var %y : f64[2,3,2,3] fetch
  (Y: %y) = MatMul(A: %a, B: %b)
})");
}

TEST(MatMulGrad, MatrixTimesBatch) {
  ExpectGradientsMatch(R"(fleet.program v1 opset=17
block 0 {
  var %a : f64[2,4] parameter
  var %b : f64[3,4,2] parameter
  var %y : f64[3,2,2] fetch
  (Y: %y) = MatMul(A: %a, B: %b)
})");
}

TEST(MatMulGrad, OneDOperands) {
  ExpectGradientsMatch(R"(fleet.program v1 opset=17
block 0 {
  var %v : f64[4] parameter
  var %m : f64[2,4,3] parameter
  var %w : f64[3] parameter
  var %u : f64[4] parameter
  var %y : f64[2,3] fetch
  var %z : f64[2,4] fetch
  var %s : f64[] fetch
  (Y: %y) = MatMul(A: %v, B: %m)
  (Y: %z) = MatMul(A: %m, B: %w)
  (Y: %s) = MatMul(A: %v, B: %u)
})");
}

TEST(MatMulGrad, SharedOperandFeedsTwoProducts) {
  // x is read by two MatMuls (its gradient is summed), and the chain passes a gradient through
  // an intermediate.
  ExpectGradientsMatch(R"(fleet.program v1 opset=17
block 0 {
  var %x : f64[4,4] parameter
  var %w1 : f64[4,4] parameter
  var %h : f64[4,4]
  var %y : f64[4,4] fetch
  (Y: %h) = MatMul(A: %x, B: %w1)
  (Y: %y) = MatMul(A: %h, B: %x)
})");
}

}  // namespace
}  // namespace fleet
