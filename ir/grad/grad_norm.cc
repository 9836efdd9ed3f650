// Gradient rules of the normalisations (kernels/cpu/grad_norm.cc):
//   fleet.batch_norm_train (BatchNormalization's training form, train_mode.h):
//       dX, dScale, dB = fleet.batch_norm_grad(X, Scale, SavedMean, SavedInvStd, dY)
//   LayerNormalization:
//       dX, dScale, dB = fleet.layer_norm_grad(X, Scale, B?, dY)   (row statistics recomputed)
// Gradients flowing into the statistics outputs (running stats, saved mean / inverse std,
// LayerNormalization's Mean / InvStdDev) are not supported: nothing differentiable reads them
// in the models Fleet trains.
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "ir/grad/grad_rules.h"
#include "ir/op_schema.h"

namespace fleet {
namespace {

absl::Status NoStatGrads(const GradBuilder& g, std::vector<const char*> slots) {
  for (const char* slot : slots) {
    if (!g.OutputGrad(slot).empty()) {
      return absl::UnimplementedError(
          absl::StrCat("output '", slot, "' carries a gradient; only 'Y' may"));
    }
  }
  if (g.OutputGrad("Y").empty()) {
    return absl::UnimplementedError("output 'Y' carries no gradient");
  }
  return absl::OkStatus();
}

// The output slots of a norm grad op: the gradient of each input that wants one, "" otherwise.
std::vector<Slot> NormGradOutputs(GradBuilder& g, const char* scale_slot, const char* bias_slot) {
  auto grad = [&](const char* slot) {
    return !g.Input(slot).empty() && g.NeedsGrad(slot) ? std::vector<std::string>{g.InputGrad(slot)}
                                                       : std::vector<std::string>{};
  };
  return {{"XGrad", grad("X")}, {"ScaleGrad", grad(scale_slot)}, {"BGrad", grad(bias_slot)}};
}

absl::Status BatchNormTrainGrad(GradBuilder& g) {
  if (absl::Status s =
          NoStatGrads(g, {"RunningMeanOut", "RunningVarOut", "SavedMean", "SavedInvStd"});
      !s.ok()) {
    return s;
  }
  if (g.Output("SavedMean").empty() || g.Output("SavedInvStd").empty()) {
    return absl::InvalidArgumentError("needs outputs 'SavedMean' and 'SavedInvStd'");
  }
  g.Emit("fleet.batch_norm_grad",
         {{"X", {g.Input("X")}},
          {"Scale", {g.Input("Scale")}},
          {"SavedMean", {g.Output("SavedMean")}},
          {"SavedInvStd", {g.Output("SavedInvStd")}},
          {"YGrad", {g.OutputGrad("Y")}}},
         NormGradOutputs(g, "Scale", "B"));
  return absl::OkStatus();
}

absl::Status LayerNormGrad(GradBuilder& g) {
  if (absl::Status s = NoStatGrads(g, {"Mean", "InvStdDev"}); !s.ok()) return s;
  AttrMap attrs;
  for (const char* name : {"axis", "epsilon", "stash_type"}) {
    auto it = g.op().attrs.find(name);
    if (it != g.op().attrs.end()) attrs[name] = it->second;
  }
  g.Emit("fleet.layer_norm_grad",
         {{"X", {g.Input("X")}},
          {"Scale", {g.Input("Scale")}},
          {"B", g.Input("B").empty() ? std::vector<std::string>{}
                                     : std::vector<std::string>{g.Input("B")}},
          {"YGrad", {g.OutputGrad("Y")}}},
         NormGradOutputs(g, "Scale", "B"), std::move(attrs));
  return absl::OkStatus();
}

}  // namespace

void AddNormGradRules(GradRuleTable& table) {
  table.Add("fleet.batch_norm_train", BatchNormTrainGrad);
  table.Add("LayerNormalization", LayerNormGrad);
}

}  // namespace fleet
