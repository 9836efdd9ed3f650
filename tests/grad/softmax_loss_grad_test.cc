// Finite-difference checks of the Softmax, LogSoftmax, SoftmaxCrossEntropyLoss and
// NegativeLogLikelihoodLoss gradient rules (passes/training/grad_softmax_loss.cc): inner and
// strided axes, every reduction, class weights, ignore_index, labels [N] and [N, d1, d2], the
// log_prob output, and the sigmoid BCE composition the loss pass appends.
#include "tests/grad/grad_check.h"
#include "tests/grad/grad_values.h"

namespace fleet {
namespace {

using testing_util::ExpectGradientsMatch;
using testing_util::F64;
using testing_util::GradCheckOptions;
using testing_util::I64;

GradCheckOptions Wide() {
  GradCheckOptions opts;
  opts.low = -3.0;
  opts.high = 3.0;
  return opts;
}

TEST(SoftmaxLossGrad, SoftmaxLastAxis) {
  ExpectGradientsMatch(R"(fleet.program v1 opset=17
block 0 {
  var %x : f64[3,5] parameter
  var %y : f64[3,5] fetch
  (output: %y) = Softmax(input: %x)
})",
                       Wide());
}

TEST(SoftmaxLossGrad, SoftmaxMiddleAxis) {
  ExpectGradientsMatch(R"(fleet.program v1 opset=17
block 0 {
  var %x : f64[2,3,4] parameter
  var %y : f64[2,3,4] fetch
  (output: %y) = Softmax(input: %x) {axis = 1}
})",
                       Wide());
}

TEST(SoftmaxLossGrad, SoftmaxLongRows) {
  ExpectGradientsMatch(R"(fleet.program v1 opset=17
block 0 {
  var %x : f64[2,37] parameter
  var %y : f64[2,37] fetch
  (output: %y) = Softmax(input: %x) {axis = -1}
})",
                       Wide());
}

TEST(SoftmaxLossGrad, LogSoftmaxLastAxis) {
  ExpectGradientsMatch(R"(fleet.program v1 opset=17
block 0 {
  var %x : f64[4,19] parameter
  var %y : f64[4,19] fetch
  (output: %y) = LogSoftmax(input: %x)
})",
                       Wide());
}

TEST(SoftmaxLossGrad, LogSoftmaxFirstAxis) {
  ExpectGradientsMatch(R"(fleet.program v1 opset=17
block 0 {
  var %x : f64[3,4] parameter
  var %y : f64[3,4] fetch
  (output: %y) = LogSoftmax(input: %x) {axis = 0}
})",
                       Wide());
}

TEST(SoftmaxLossGrad, CrossEntropyMean) {
  GradCheckOptions opts = Wide();
  opts.values["labels"] = I64({4}, {2, 0, 4, 2});
  ExpectGradientsMatch(R"(fleet.program v1 opset=17
block 0 {
  var %x : f64[4,5] parameter
  var %labels : i64[4] feed
  var %loss : f64[] fetch
  (output: %loss) = SoftmaxCrossEntropyLoss(scores: %x, labels: %labels) {reduction = "mean"}
})",
                       opts);
}

TEST(SoftmaxLossGrad, CrossEntropyDefaultReductionOfTwoClasses) {
  GradCheckOptions opts = Wide();
  opts.values["labels"] = testing_util::ValueOf<int32_t>(DataType::kI32, {6}, {1, 0, 0, 1, 1, 1});
  ExpectGradientsMatch(R"(fleet.program v1 opset=17
block 0 {
  var %x : f64[6,2] parameter
  var %labels : i32[6] feed
  var %loss : f64[] fetch
  (output: %loss) = SoftmaxCrossEntropyLoss(scores: %x, labels: %labels)
})",
                       opts);
}

TEST(SoftmaxLossGrad, CrossEntropyManyClassesWithLogProb) {
  // Rows of at least one vector: the vectorised row loop.
  GradCheckOptions opts = Wide();
  opts.values["labels"] = I64({3}, {36, 0, 17});
  ExpectGradientsMatch(R"(fleet.program v1 opset=17
block 0 {
  var %x : f64[3,37] parameter
  var %labels : i64[3] feed
  var %loss : f64[] fetch
  var %logp : f64[3,37] fetch
  (output: %loss, log_prob: %logp) = SoftmaxCrossEntropyLoss(scores: %x, labels: %labels) {reduction = "sum"}
})",
                       opts);
}

TEST(SoftmaxLossGrad, CrossEntropySumWithWeightsAndIgnoredLabels) {
  GradCheckOptions opts = Wide();
  opts.values["labels"] = I64({5}, {1, -100, 3, 0, -100});
  opts.values["weights"] = F64({4}, {0.5, 2.0, 1.0, 1.5});
  ExpectGradientsMatch(R"(fleet.program v1 opset=17
block 0 {
  var %x : f64[5,4] parameter
  var %labels : i64[5] feed
  var %weights : f64[4] feed
  var %loss : f64[] fetch
  (output: %loss) = SoftmaxCrossEntropyLoss(scores: %x, labels: %labels, weights: %weights) {ignore_index = -100, reduction = "sum"}
})",
                       opts);
}

TEST(SoftmaxLossGrad, CrossEntropyMeanDividesByTheAppliedWeights) {
  GradCheckOptions opts = Wide();
  opts.values["labels"] = I64({2, 3}, {0, 2, 1, 2, 2, 1});
  opts.values["weights"] = F64({3}, {0.25, 3.0, 1.0});
  ExpectGradientsMatch(R"(fleet.program v1 opset=17
block 0 {
  var %x : f64[2,3,3] parameter
  var %labels : i64[2,3] feed
  var %weights : f64[3] feed
  var %loss : f64[] fetch
  (output: %loss) = SoftmaxCrossEntropyLoss(scores: %x, labels: %labels, weights: %weights) {ignore_index = 1}
})",
                       opts);
}

TEST(SoftmaxLossGrad, CrossEntropyNonePerPositionWithLogProb) {
  // Labels [N, d1, d2]: the strided (D > 1) path; both outputs carry gradients.
  GradCheckOptions opts = Wide();
  opts.values["labels"] = I64({2, 2, 3}, {0, 1, 2, 2, 1, 0, 1, 1, 0, 2, 2, 2});
  ExpectGradientsMatch(R"(fleet.program v1 opset=17
block 0 {
  var %x : f64[2,3,2,3] parameter
  var %labels : i64[2,2,3] feed
  var %loss : f64[2,2,3] fetch
  var %logp : f64[2,3,2,3] fetch
  (output: %loss, log_prob: %logp) = SoftmaxCrossEntropyLoss(scores: %x, labels: %labels) {reduction = "none"}
})",
                       opts);
}

TEST(SoftmaxLossGrad, CrossEntropyOnlyLogProbUsed) {
  GradCheckOptions opts = Wide();
  opts.values["labels"] = I64({3}, {0, 2, 1});
  ExpectGradientsMatch(R"(fleet.program v1 opset=17
block 0 {
  var %x : f64[3,3] parameter
  var %labels : i64[3] feed
  var %loss : f64[]
  var %logp : f64[3,3] fetch
  (output: %loss, log_prob: %logp) = SoftmaxCrossEntropyLoss(scores: %x, labels: %labels)
})",
                       opts);
}

TEST(SoftmaxLossGrad, CrossEntropyOfALinearLayerOutput) {
  GradCheckOptions opts = Wide();
  opts.values["labels"] = I64({3}, {1, 1, 0});
  ExpectGradientsMatch(R"(fleet.program v1 opset=17
block 0 {
  var %x : f64[3,2] parameter
  var %w : f64[1,2] parameter
  var %labels : i64[3] feed
  var %s : f64[3,2]
  var %loss : f64[] fetch
  (C: %s) = Mul(A: %x, B: %w)
  (output: %loss) = SoftmaxCrossEntropyLoss(scores: %s, labels: %labels)
})",
                       opts);
}

TEST(SoftmaxLossGrad, NllMeanWithWeightsAndIgnoreIndex) {
  GradCheckOptions opts;
  opts.values["target"] = I64({4}, {2, 0, 3, 2});
  opts.values["weight"] = F64({4}, {1.0, 0.5, 2.0, 1.5});
  ExpectGradientsMatch(R"(fleet.program v1 opset=17
block 0 {
  var %x : f64[4,4] parameter
  var %target : i64[4] feed
  var %weight : f64[4] feed
  var %loss : f64[] fetch
  (loss: %loss) = NegativeLogLikelihoodLoss(input: %x, target: %target, weight: %weight) {ignore_index = 3, reduction = "mean"}
})",
                       opts);
}

TEST(SoftmaxLossGrad, NllNoneOverPositions) {
  GradCheckOptions opts;
  opts.values["target"] = I64({2, 3}, {0, 1, 1, 2, 0, 2});
  ExpectGradientsMatch(R"(fleet.program v1 opset=17
block 0 {
  var %x : f64[2,3,3] parameter
  var %target : i64[2,3] feed
  var %loss : f64[2,3] fetch
  (loss: %loss) = NegativeLogLikelihoodLoss(input: %x, target: %target) {reduction = "none"}
})",
                       opts);
}

TEST(SoftmaxLossGrad, NllSumAfterLogSoftmax) {
  GradCheckOptions opts = Wide();
  opts.values["target"] = I64({3}, {4, 0, 2});
  ExpectGradientsMatch(R"(fleet.program v1 opset=17
block 0 {
  var %x : f64[3,5] parameter
  var %target : i64[3] feed
  var %logp : f64[3,5]
  var %loss : f64[] fetch
  (output: %logp) = LogSoftmax(input: %x) {axis = 1}
  (loss: %loss) = NegativeLogLikelihoodLoss(input: %logp, target: %target) {reduction = "sum"}
})",
                       opts);
}

TEST(SoftmaxLossGrad, SigmoidBinaryCrossEntropyAsTheLossPassBuildsIt) {
  // mean(Relu(x) - x*y + Softplus(-Abs(x))) (passes/training/loss.cc); x away from 0, where
  // Relu and Abs have kinks.
  GradCheckOptions opts;
  opts.values["x"] = F64({3, 2}, {1.5, -0.7, 0.3, -2.5, 4.0, -0.2});
  opts.values["label"] = F64({3, 2}, {1, 0, 0, 1, 1, 0});
  ExpectGradientsMatch(R"(fleet.program v1 opset=17
block 0 {
  var %x : f64[3,2] parameter
  var %label : f64[3,2] feed
  var %relu : f64[3,2]
  var %xy : f64[3,2]
  var %abs : f64[3,2]
  var %negabs : f64[3,2]
  var %softplus : f64[3,2]
  var %diff : f64[3,2]
  var %each : f64[3,2]
  var %loss : f64[] fetch
  (Y: %relu) = Relu(X: %x)
  (C: %xy) = Mul(A: %x, B: %label)
  (Y: %abs) = Abs(X: %x)
  (Y: %negabs) = Neg(X: %abs)
  (Y: %softplus) = Softplus(X: %negabs)
  (C: %diff) = Sub(A: %relu, B: %xy)
  (C: %each) = Add(A: %diff, B: %softplus)
  (reduced: %loss) = ReduceMean(data: %each) {keepdims = 0}
})",
                       opts);
}

TEST(SoftmaxLossGrad, WeightsThatNeedAGradientAreUnimplemented) {
  absl::StatusOr<Program> p = ParseProgramText(R"(fleet.program v1 opset=17
block 0 {
  var %x : f64[2,3] parameter persistable
  var %w : f64[3] parameter persistable
  var %labels : i64[2] feed
  var %loss : f64[] fetch
  (output: %loss) = SoftmaxCrossEntropyLoss(scores: %x, labels: %labels, weights: %w) role=loss
})",
                                               "test.txt");
  ASSERT_TRUE(p.ok()) << p.status();
  PassContext ctx;
  absl::StatusOr<bool> ran = CreateAutodiffPass()->Run(*p, ctx);
  EXPECT_EQ(ran.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_NE(ran.status().message().find("class weights 'w'"), std::string::npos) << ran.status();
}

}  // namespace
}  // namespace fleet
