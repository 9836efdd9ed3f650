// Gradient rule of Conv:
//   dX      = fleet.conv_grad_input(X, W, dY)      (col2im of W^T * dY)
//   dW, dB  = fleet.conv_grad_filter(X, W, dY)     (dY * im2col(X)^T; dB sums dY over N and space)
// Both take Conv's attributes unchanged (kernels/cpu/grad_conv.cc).
#include <string>
#include <vector>

#include "ir/grad/grad_rules.h"
#include "ir/op_schema.h"

namespace fleet {
namespace {

absl::Status ConvGrad(GradBuilder& g) {
  const std::vector<Slot> inputs = {
      {"X", {g.Input("X")}}, {"W", {g.Input("W")}}, {"YGrad", {g.OutputGrad("Y")}}};
  if (g.NeedsGrad("X")) {
    g.Emit("fleet.conv_grad_input", inputs, {{"XGrad", {g.InputGrad("X")}}}, g.op().attrs);
  }
  const bool want_b = !g.Input("B").empty() && g.NeedsGrad("B");
  if (!g.NeedsGrad("W") && !want_b) return absl::OkStatus();
  // A frozen W with a trained bias still computes dW (one output op); it is dropped.
  const std::string dw =
      g.NeedsGrad("W") ? g.InputGrad("W") : g.TempLike("unused_dW", g.Input("W"));
  std::vector<Slot> outputs = {{"WGrad", {dw}}};
  if (want_b) outputs.push_back({"BGrad", {g.InputGrad("B")}});
  g.Emit("fleet.conv_grad_filter", inputs, std::move(outputs), g.op().attrs);
  return absl::OkStatus();
}

}  // namespace

void AddConvGradRules(GradRuleTable& table) { table.Add("Conv", ConvGrad); }

}  // namespace fleet
