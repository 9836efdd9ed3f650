// Gradient rules of the reductions: the output gradient spreads back over the reduced axes
// (fleet.expand_like, divided by the count for means), times the derivative of what was summed:
//   ReduceSumSquare  dX = 2 X dY                ReduceL1   dX = sign(X) dY
//   ReduceL2         dX = X dY / Y              ReduceLogSumExp  dX = exp(X - Y) dY
//   ReduceMax, ReduceMin: dY goes to the first element equal to Y (fleet.reduce_select_grad).
// Y and dY are spread back first; the products are over X's shape.
#include <string>

#include "ir/grad/grad_rules.h"
#include "ir/grad/grad_util.h"
#include "ir/op_schema.h"

namespace fleet {
namespace {

// fleet.expand_like(x -> data's shape) with the reduction's axes, into `target` (a new temp
// when empty); returns the var written.
std::string Expand(GradBuilder& g, const std::string& x, bool mean, std::string target = "") {
  AttrMap attrs = CopyAttrs(g.op(), {"keepdims", "noop_with_empty_axes", "axes"});
  attrs["mean"] = AttrValue(int64_t{mean ? 1 : 0});
  std::vector<Slot> inputs = {{"X", {x}}, {"Like", {g.Input("data")}}};
  if (!g.Input("axes").empty()) inputs.push_back({"Axes", {g.Input("axes")}});
  if (target.empty()) target = g.TempLike("spread", g.Input("data"));
  g.Emit("fleet.expand_like", std::move(inputs), {{"Out", {target}}}, std::move(attrs));
  return target;
}

// ReduceSum (axes as an optional input) and ReduceMean (axes as an attribute at opset 17).
absl::Status SpreadGrad(GradBuilder& g, bool mean) {
  if (!g.NeedsGrad("data")) return absl::OkStatus();
  Expand(g, g.OutputGrad("reduced"), mean, g.InputGrad("data"));
  return absl::OkStatus();
}

absl::Status SumSquareGrad(GradBuilder& g) {
  if (!g.NeedsGrad("data")) return absl::OkStatus();
  const std::string& x = g.Input("data");
  const std::string xdy =
      EmitBinary(g, "Mul", Expand(g, g.OutputGrad("reduced"), false), x, x, "x_dy");
  g.Emit("Add", {{"A", {xdy}}, {"B", {xdy}}}, {{"C", {g.InputGrad("data")}}});
  return absl::OkStatus();
}

absl::Status L1Grad(GradBuilder& g) {
  if (!g.NeedsGrad("data")) return absl::OkStatus();
  const std::string& x = g.Input("data");
  const std::string dy = Expand(g, g.OutputGrad("reduced"), false);
  const std::string sign = EmitUnary(g, "Sign", x, x, "sign");
  g.Emit("Mul", {{"A", {dy}}, {"B", {sign}}}, {{"C", {g.InputGrad("data")}}});
  return absl::OkStatus();
}

absl::Status L2Grad(GradBuilder& g) {
  if (!g.NeedsGrad("data")) return absl::OkStatus();
  const std::string& y = g.Output("reduced");
  const std::string q = EmitBinary(g, "Div", g.OutputGrad("reduced"), y, y, "dy_over_y");
  g.Emit("Mul", {{"A", {Expand(g, q, false)}}, {"B", {g.Input("data")}}},
         {{"C", {g.InputGrad("data")}}});
  return absl::OkStatus();
}

absl::Status LogSumExpGrad(GradBuilder& g) {
  if (!g.NeedsGrad("data")) return absl::OkStatus();
  const std::string& x = g.Input("data");
  const std::string shifted =
      EmitBinary(g, "Sub", x, Expand(g, g.Output("reduced"), false), x, "x_minus_y");
  const std::string softmax = EmitUnary(g, "Exp", shifted, x, "softmax");
  g.Emit("Mul", {{"A", {Expand(g, g.OutputGrad("reduced"), false)}}, {"B", {softmax}}},
         {{"C", {g.InputGrad("data")}}});
  return absl::OkStatus();
}

absl::Status SelectGrad(GradBuilder& g) {
  if (!g.NeedsGrad("data")) return absl::OkStatus();
  g.Emit("fleet.reduce_select_grad",
         {{"X", {g.Input("data")}},
          {"Out", {g.Output("reduced")}},
          {"OutGrad", {g.OutputGrad("reduced")}}},
         {{"XGrad", {g.InputGrad("data")}}},
         CopyAttrs(g.op(), {"keepdims", "noop_with_empty_axes", "axes"}));
  return absl::OkStatus();
}

}  // namespace

void AddReduceGradRules(GradRuleTable& table) {
  table.Add("ReduceSum", [](GradBuilder& g) { return SpreadGrad(g, /*mean=*/false); });
  table.Add("ReduceMean", [](GradBuilder& g) { return SpreadGrad(g, /*mean=*/true); });
  table.Add("ReduceSumSquare", SumSquareGrad);
  table.Add("ReduceL1", L1Grad);
  table.Add("ReduceL2", L2Grad);
  table.Add("ReduceLogSumExp", LogSumExpGrad);
  table.Add("ReduceMax", SelectGrad);
  table.Add("ReduceMin", SelectGrad);
}

}  // namespace fleet
