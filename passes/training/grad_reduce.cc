// Gradient rules of the reductions: the output gradient spreads back over the reduced axes
// (fleet.expand_like), divided by the count for means.
#include <string>

#include "ir/op_schema.h"
#include "passes/training/grad_rules.h"

namespace fleet {
namespace {

// ReduceSum (axes as an optional input) and ReduceMean (axes as an attribute at opset 17).
absl::Status SpreadGrad(GradBuilder& g, bool mean) {
  if (!g.NeedsGrad("data")) return absl::OkStatus();
  AttrMap attrs;
  for (const char* name : {"keepdims", "noop_with_empty_axes", "axes"}) {
    auto it = g.op().attrs.find(name);
    if (it != g.op().attrs.end()) attrs[name] = it->second;
  }
  attrs["mean"] = AttrValue(int64_t{mean ? 1 : 0});
  std::vector<Slot> inputs = {{"X", {g.OutputGrad("reduced")}}, {"Like", {g.Input("data")}}};
  if (!g.Input("axes").empty()) inputs.push_back({"Axes", {g.Input("axes")}});
  g.Emit("fleet.expand_like", std::move(inputs), {{"Out", {g.InputGrad("data")}}},
         std::move(attrs));
  return absl::OkStatus();
}

}  // namespace

void InstallReduceGradRules() {
  SetGradRule("ReduceSum", [](GradBuilder& g) { return SpreadGrad(g, /*mean=*/false); });
  SetGradRule("ReduceMean", [](GradBuilder& g) { return SpreadGrad(g, /*mean=*/true); });
}

}  // namespace fleet
