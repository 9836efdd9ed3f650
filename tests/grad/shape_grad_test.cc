// Finite-difference checks of the shape ops' gradient rules (passes/training/grad_shape.cc):
// views (Reshape, Flatten, Squeeze, Unsqueeze), Transpose, Concat, Split, Slice, Pad,
// Expand and Tile, with the attributes and inputs that change where the gradient goes.
#include "tests/grad/grad_check.h"
#include "tests/grad/grad_values.h"

namespace fleet {
namespace {

using testing_util::ExpectGradientsMatch;
using testing_util::GradCheckOptions;
using testing_util::I64;

TEST(ShapeGrad, ReshapeWithInferredAndCopiedDims) {
  GradCheckOptions opts;
  opts.values["shape"] = I64({3}, {0, -1, 2});
  ExpectGradientsMatch(R"(fleet.program v1 opset=17
block 0 {
  var %x : f64[2,3,4] parameter
  var %shape : i64[3] feed
  var %y : f64[2,6,2] fetch
  (reshaped: %y) = Reshape(data: %x, shape: %shape)
})",
                       opts);
}

TEST(ShapeGrad, FlattenAtAxisTwo) {
  ExpectGradientsMatch(R"(fleet.program v1 opset=17
block 0 {
  var %x : f64[2,3,2,2] parameter
  var %y : f64[6,4] fetch
  (output: %y) = Flatten(input: %x) {axis = 2}
})");
}

TEST(ShapeGrad, UnsqueezeThenSqueezeOtherAxes) {
  GradCheckOptions opts;
  opts.values["ua"] = I64({2}, {0, -1});
  opts.values["sa"] = I64({2}, {0, 3});
  ExpectGradientsMatch(R"(fleet.program v1 opset=17
block 0 {
  var %x : f64[1,3,1,2] parameter
  var %ua : i64[2] feed
  var %sa : i64[2] feed
  var %u : f64[1,1,3,1,2,1]
  var %y : f64[1,3,2,1] fetch
  (expanded: %u) = Unsqueeze(data: %x, axes: %ua)
  (squeezed: %y) = Squeeze(data: %u, axes: %sa)
})",
                       opts);
}

TEST(ShapeGrad, SqueezeWithoutAxes) {
  ExpectGradientsMatch(R"(fleet.program v1 opset=17
block 0 {
  var %x : f64[3,1,2,1] parameter
  var %y : f64[3,2] fetch
  (squeezed: %y) = Squeeze(data: %x)
})");
}

TEST(ShapeGrad, TransposeWithPerm) {
  ExpectGradientsMatch(R"(fleet.program v1 opset=17
block 0 {
  var %x : f64[2,3,4] parameter
  var %y : f64[4,2,3] fetch
  (transposed: %y) = Transpose(data: %x) {perm = [2, 0, 1]}
})");
}

TEST(ShapeGrad, TransposeDefaultReversesDims) {
  ExpectGradientsMatch(R"(fleet.program v1 opset=17
block 0 {
  var %x : f64[2,3,4] parameter
  var %y : f64[4,3,2] fetch
  (transposed: %y) = Transpose(data: %x)
})");
}

TEST(ShapeGrad, ConcatOfThreeSizesAlongAxisOne) {
  ExpectGradientsMatch(R"(fleet.program v1 opset=17
block 0 {
  var %a : f64[2,1,3] parameter
  var %b : f64[2,4,3] parameter
  var %c : f64[2,2,3] parameter
  var %y : f64[2,7,3] fetch
  (concat_result: %y) = Concat(inputs: [%a, %b, %c]) {axis = 1}
})");
}

TEST(ShapeGrad, ConcatSkipsInputsWithoutGradientAndAddsRepeats) {
  // %d is fed (no gradient); %a appears twice, so its two pieces add up.
  ExpectGradientsMatch(R"(fleet.program v1 opset=17
block 0 {
  var %a : f64[3,2] parameter
  var %d : f64[3,1] feed
  var %b : f64[3,3] parameter
  var %y : f64[3,8] fetch
  (concat_result: %y) = Concat(inputs: [%a, %d, %b, %a]) {axis = -1}
})");
}

TEST(ShapeGrad, SplitBySizesWithAnUnusedOutput) {
  GradCheckOptions opts;
  opts.values["split"] = I64({3}, {1, 3, 2});
  // %p1 is not fetched: its gradient is zeros.
  ExpectGradientsMatch(R"(fleet.program v1 opset=17
block 0 {
  var %x : f64[2,6] parameter
  var %split : i64[3] feed
  var %p0 : f64[2,1] fetch
  var %p1 : f64[2,3]
  var %p2 : f64[2,2] fetch
  (outputs: [%p0, %p1, %p2]) = Split(input: %x, split: %split) {axis = 1}
})",
                       opts);
}

TEST(ShapeGrad, SplitEqualPartsAlongAxisZero) {
  ExpectGradientsMatch(R"(fleet.program v1 opset=17
block 0 {
  var %x : f64[4,3] parameter
  var %p0 : f64[2,3] fetch
  var %p1 : f64[2,3] fetch
  (outputs: [%p0, %p1]) = Split(input: %x)
})");
}

TEST(ShapeGrad, SliceWithNegativeStartAxesAndSteps) {
  GradCheckOptions opts;
  opts.values["starts"] = I64({2}, {-4, 1});
  opts.values["ends"] = I64({2}, {1000, 3});
  opts.values["axes"] = I64({2}, {2, 0});
  opts.values["steps"] = I64({2}, {2, 1});
  ExpectGradientsMatch(R"(fleet.program v1 opset=17
block 0 {
  var %x : f64[3,2,5] parameter
  var %starts : i64[2] feed
  var %ends : i64[2] feed
  var %axes : i64[2] feed
  var %steps : i64[2] feed
  var %y : f64[2,2,2] fetch
  (output: %y) = Slice(data: %x, starts: %starts, ends: %ends, axes: %axes, steps: %steps)
})",
                       opts);
}

TEST(ShapeGrad, SliceBackwardsWithoutAxes) {
  GradCheckOptions opts;
  opts.values["starts"] = I64({2}, {2, -1});
  opts.values["ends"] = I64({2}, {0, -100});
  opts.values["steps"] = I64({2}, {-1, -2});
  ExpectGradientsMatch(R"(fleet.program v1 opset=17
block 0 {
  var %x : f64[3,4] parameter
  var %starts : i64[2] feed
  var %ends : i64[2] feed
  var %steps : i64[2] feed
  var %y : f64[2,2] fetch
  (output: %y) = Slice(data: %x, starts: %starts, ends: %ends, axes: none, steps: %steps)
})",
                       opts);
}

TEST(ShapeGrad, PadConstantGrowsAndCrops) {
  GradCheckOptions opts;
  // Axis 0 grows by 1 + 2; axis 1 crops 1 at the start and grows 1 at the end.
  opts.values["pads"] = I64({4}, {1, -1, 2, 1});
  opts.values["value"] = testing_util::F64({}, {0.5});
  ExpectGradientsMatch(R"(fleet.program v1 opset=17
block 0 {
  var %x : f64[2,4] parameter
  var %pads : i64[4] feed
  var %value : f64[] feed
  var %y : f64[5,4] fetch
  (output: %y) = Pad(data: %x, pads: %pads, constant_value: %value)
})",
                       opts);
}

TEST(ShapeGrad, ExpandAddsLeadingAndStretchedDims) {
  GradCheckOptions opts;
  opts.values["shape"] = I64({3}, {2, 3, 4});
  ExpectGradientsMatch(R"(fleet.program v1 opset=17
block 0 {
  var %x : f64[3,1] parameter
  var %shape : i64[3] feed
  var %y : f64[2,3,4] fetch
  (output: %y) = Expand(input: %x, shape: %shape)
})",
                       opts);
}

TEST(ShapeGrad, TileSumsTheTiles) {
  GradCheckOptions opts;
  opts.values["repeats"] = I64({3}, {2, 1, 3});
  ExpectGradientsMatch(R"(fleet.program v1 opset=17
block 0 {
  var %x : f64[2,3,2] parameter
  var %repeats : i64[3] feed
  var %y : f64[4,3,6] fetch
  (output: %y) = Tile(input: %x, repeats: %repeats)
})",
                       opts);
}

TEST(ShapeGrad, ChainOfViewsAndMoves) {
  GradCheckOptions opts;
  opts.values["shape"] = I64({2}, {4, 3});
  ExpectGradientsMatch(R"(fleet.program v1 opset=17
block 0 {
  var %x : f64[2,6] parameter
  var %w : f64[3,4] parameter
  var %shape : i64[2] feed
  var %r : f64[4,3]
  var %t : f64[3,4]
  var %y : f64[3,4] fetch
  (reshaped: %r) = Reshape(data: %x, shape: %shape)
  (transposed: %t) = Transpose(data: %r) {perm = [1, 0]}
  (C: %y) = Mul(A: %t, B: %w)
})",
                       opts);
}

}  // namespace
}  // namespace fleet
