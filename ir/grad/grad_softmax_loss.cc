// Gradient rules of Softmax, LogSoftmax and the classification losses, each one fused kernel:
//   Softmax / LogSoftmax       fleet.softmax_grad / fleet.log_softmax_grad (from the output)
//   SoftmaxCrossEntropyLoss    fleet.softmax_ce_grad: (softmax - onehot) scaled by the weights
//                              and the output's gradient, plus the log_prob output's gradient
//   NegativeLogLikelihoodLoss  fleet.nll_loss_grad
// The loss pass appends SoftmaxCrossEntropyLoss for classifiers, so its rule is on every
// classifier's training path. Class weights given as an input get no gradient: a rule asked
// for one is UNIMPLEMENTED.
#include <string>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "ir/grad/grad_rules.h"
#include "ir/grad/grad_util.h"
#include "ir/op_schema.h"
#include "ir/status_macros.h"

namespace fleet {
namespace {

absl::Status SoftmaxGrad(GradBuilder& g, const char* grad_op) {
  if (!g.NeedsGrad("input")) return absl::OkStatus();
  g.Emit(grad_op, {{"Out", {g.Output("output")}}, {"OutGrad", {g.OutputGrad("output")}}},
         {{"XGrad", {g.InputGrad("input")}}}, CopyAttrs(g.op(), {"axis"}));
  return absl::OkStatus();
}

absl::Status NoWeightGrad(const GradBuilder& g, std::string_view slot) {
  if (!g.NeedsGrad(slot)) return absl::OkStatus();
  return absl::UnimplementedError(
      absl::StrCat("no gradient for the class weights '", g.Input(slot),
                   "'; mark them stop_gradient (they are usually constants)"));
}

absl::Status SoftmaxCrossEntropyGrad(GradBuilder& g) {
  FLEET_RETURN_IF_ERROR(NoWeightGrad(g, "weights"));
  if (!g.NeedsGrad("scores")) return absl::OkStatus();
  g.Emit("fleet.softmax_ce_grad",
         {{"Scores", {g.Input("scores")}},
          {"Labels", {g.Input("labels")}},
          SlotOrAbsent("Weights", g.Input("weights")),
          SlotOrAbsent("OutGrad", g.OutputGrad("output")),
          SlotOrAbsent("LogProbGrad", g.OutputGrad("log_prob"))},
         {{"ScoresGrad", {g.InputGrad("scores")}}},
         CopyAttrs(g.op(), {"reduction", "ignore_index"}));
  return absl::OkStatus();
}

absl::Status NllLossGrad(GradBuilder& g) {
  FLEET_RETURN_IF_ERROR(NoWeightGrad(g, "weight"));
  if (!g.NeedsGrad("input")) return absl::OkStatus();
  g.Emit("fleet.nll_loss_grad",
         {{"Input", {g.Input("input")}},
          {"Target", {g.Input("target")}},
          SlotOrAbsent("Weight", g.Input("weight")),
          {"OutGrad", {g.OutputGrad("loss")}}},
         {{"InputGrad", {g.InputGrad("input")}}}, CopyAttrs(g.op(), {"reduction", "ignore_index"}));
  return absl::OkStatus();
}

}  // namespace

void AddSoftmaxLossGradRules(GradRuleTable& table) {
  table.Add("Softmax", [](GradBuilder& g) { return SoftmaxGrad(g, "fleet.softmax_grad"); });
  table.Add("LogSoftmax", [](GradBuilder& g) { return SoftmaxGrad(g, "fleet.log_softmax_grad"); });
  table.Add("SoftmaxCrossEntropyLoss", SoftmaxCrossEntropyGrad);
  table.Add("NegativeLogLikelihoodLoss", NllLossGrad);
}

}  // namespace fleet
