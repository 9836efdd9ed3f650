// Finite-difference checks of the autodiff pass itself (accumulation, broadcasting, several
// outputs) and of the Mul, Sum, ReduceSum and ReduceMean rules.
#include "tests/grad/grad_check.h"

namespace fleet {
namespace {

using testing_util::ExpectGradientsMatch;

TEST(BasicGrad, MulOfAVarWithItselfAddsBothParts) {
  ExpectGradientsMatch(R"(fleet.program v1 opset=17
block 0 {
  var %x : f64[2,3] parameter
  var %y : f64[2,3] fetch
  (C: %y) = Mul(A: %x, B: %x)
})");
}

TEST(BasicGrad, MulBroadcastsARowAndAScalar) {
  ExpectGradientsMatch(R"(fleet.program v1 opset=17
block 0 {
  var %x : f64[4,3] parameter
  var %b : f64[3] parameter
  var %s : f64[] parameter
  var %t : f64[4,3]
  var %y : f64[4,3] fetch
  (C: %t) = Mul(A: %x, B: %b)
  (C: %y) = Mul(A: %t, B: %s)
})");
}

TEST(BasicGrad, SumOfThreeWithBroadcast) {
  ExpectGradientsMatch(R"(fleet.program v1 opset=17
block 0 {
  var %a : f64[2,1,3] parameter
  var %b : f64[4,1] parameter
  var %c : f64[2,4,3] parameter
  var %y : f64[2,4,3] fetch
  (sum: %y) = Sum(data_0: [%a, %b, %c])
})");
}

TEST(BasicGrad, ReduceSumOverAnAxisInput) {
  testing_util::GradCheckOptions opts;
  TensorValue axes;
  axes.dtype = DataType::kI64;
  axes.shape = {1};
  int64_t axis = -2;
  axes.bytes.assign(reinterpret_cast<const char*>(&axis), sizeof(axis));
  opts.values["axes"] = axes;
  ExpectGradientsMatch(R"(fleet.program v1 opset=17
block 0 {
  var %x : f64[2,3,4] parameter
  var %axes : i64[1] feed
  var %y : f64[2,4] fetch
  (reduced: %y) = ReduceSum(data: %x, axes: %axes) {keepdims = 0}
})",
                       opts);
}

TEST(BasicGrad, ReduceMeanKeepDims) {
  ExpectGradientsMatch(R"(fleet.program v1 opset=17
block 0 {
  var %x : f64[2,3,4] parameter
  var %y : f64[1,3,1] fetch
  (reduced: %y) = ReduceMean(data: %x) {axes = [0, 2]}
})");
}

TEST(BasicGrad, TwoOutputsAndAnUnusedParameter) {
  ExpectGradientsMatch(R"(fleet.program v1 opset=17
block 0 {
  var %x : f64[3] parameter
  var %w : f64[3] parameter
  var %y : f64[3] fetch
  var %z : f64[3] fetch
  (C: %y) = Mul(A: %x, B: %w)
  (C: %z) = Mul(A: %y, B: %x)
})");
}

}  // namespace
}  // namespace fleet
