// Gradient rules of the shape ops. Ops that only view their input (Reshape, Flatten, Squeeze,
// Unsqueeze) pass the gradient back as a view; the others move it back where the
// forward op took it from:
//   Transpose  the inverse permutation       Concat  fleet.concat_grad (cut into the inputs)
//   Split      Concat of the outputs' grads  Slice   fleet.slice_grad (zeros elsewhere)
//   Pad        Pad by the negated pads       Expand  fleet.reduce_to_like (sum the broadcast)
//   Tile       fleet.tile_grad (sum the tiles)
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/str_cat.h"
#include "ir/grad/grad_rules.h"
#include "ir/grad/grad_util.h"
#include "ir/op_schema.h"

namespace fleet {
namespace {

// dX = dY viewed with X's shape.
absl::Status ViewGrad(GradBuilder& g, std::string_view in, std::string_view out) {
  if (!g.NeedsGrad(in)) return absl::OkStatus();
  g.Emit("fleet.reshape_like", {{"X", {g.OutputGrad(out)}}, {"Like", {g.Input(in)}}},
         {{"Out", {g.InputGrad(in)}}});
  return absl::OkStatus();
}

// transposed = Transpose(data, perm):  d data = Transpose(d transposed, perm^-1). Without perm
// the forward op reverses the dims, which is its own inverse.
absl::Status TransposeGrad(GradBuilder& g) {
  if (!g.NeedsGrad("data")) return absl::OkStatus();
  AttrMap attrs;
  auto it = g.op().attrs.find("perm");
  if (it != g.op().attrs.end()) {
    const auto* perm = std::get_if<std::vector<int64_t>>(&it->second);
    if (perm == nullptr)
      return absl::InvalidArgumentError("attribute 'perm' is not a list of ints");
    const int64_t rank = static_cast<int64_t>(perm->size());
    std::vector<int64_t> inverse(rank, -1);
    for (int64_t i = 0; i < rank; ++i) {
      const int64_t p = (*perm)[i] < 0 ? (*perm)[i] + rank : (*perm)[i];
      if (p < 0 || p >= rank || inverse[p] >= 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("attribute 'perm' is not a permutation of 0..", rank - 1));
      }
      inverse[p] = i;
    }
    attrs["perm"] = AttrValue(inverse);
  }
  g.Emit("Transpose", {{"data", {g.OutputGrad("transposed")}}},
         {{"transposed", {g.InputGrad("data")}}}, std::move(attrs));
  return absl::OkStatus();
}

// concat_result = Concat(inputs...): each input that needs a gradient gets its piece of
// d concat_result, cut by one fleet.concat_grad (sizes read at run time from the inputs).
absl::Status ConcatGrad(GradBuilder& g) {
  const int n = g.NumInputs("inputs");
  std::vector<std::string> inputs, grads;
  std::vector<int64_t> select;
  for (int i = 0; i < n; ++i) {
    inputs.push_back(g.Input("inputs", i));
    if (!g.NeedsGrad("inputs", i)) continue;
    select.push_back(i);
    grads.push_back(g.InputGrad("inputs", i));
  }
  if (grads.empty()) return absl::OkStatus();
  AttrMap attrs;
  auto it = g.op().attrs.find("axis");
  if (it != g.op().attrs.end()) attrs["axis"] = it->second;
  if (static_cast<int>(select.size()) < n) attrs["select"] = AttrValue(select);
  g.Emit("fleet.concat_grad", {{"X", {g.OutputGrad("concat_result")}}, {"Inputs", inputs}},
         {{"Out", grads}}, std::move(attrs));
  return absl::OkStatus();
}

// outputs... = Split(input): d input = Concat of the outputs' gradients (zeros for outputs
// that receive none).
absl::Status SplitGrad(GradBuilder& g) {
  if (!g.NeedsGrad("input")) return absl::OkStatus();
  std::vector<std::string> parts;
  const Slot* outs = g.op().FindOutput("outputs");
  const int n = outs == nullptr ? 0 : static_cast<int>(outs->vars.size());
  for (int i = 0; i < n; ++i) parts.push_back(g.OutputGradOrZeros("outputs", i));
  // Split's axis defaults to 0; Concat requires one.
  AttrMap attrs = {{"axis", AttrValue(int64_t{0})}};
  auto it = g.op().attrs.find("axis");
  if (it != g.op().attrs.end()) attrs["axis"] = it->second;
  g.Emit("Concat", {{"inputs", parts}}, {{"concat_result", {g.InputGrad("input")}}},
         std::move(attrs));
  return absl::OkStatus();
}

absl::Status SliceGrad(GradBuilder& g) {
  if (!g.NeedsGrad("data")) return absl::OkStatus();
  g.Emit("fleet.slice_grad",
         {{"OutGrad", {g.OutputGrad("output")}},
          {"Like", {g.Input("data")}},
          {"Starts", {g.Input("starts")}},
          {"Ends", {g.Input("ends")}},
          SlotOrAbsent("Axes", g.Input("axes")),
          SlotOrAbsent("Steps", g.Input("steps"))},
         {{"XGrad", {g.InputGrad("data")}}});
  return absl::OkStatus();
}

// output = Pad(data, pads) in constant mode: d data = Pad(d output, -pads), which crops what
// padding added and fills zeros where negative pads cropped.
absl::Status PadGrad(GradBuilder& g) {
  if (!g.NeedsGrad("data")) return absl::OkStatus();
  auto it = g.op().attrs.find("mode");
  if (it != g.op().attrs.end()) {
    const auto* mode = std::get_if<std::string>(&it->second);
    if (mode == nullptr || *mode != "constant") {
      return absl::UnimplementedError(
          absl::StrCat("no gradient for Pad mode '", mode == nullptr ? "?" : *mode,
                       "'; only constant mode is differentiable (mark the input stop_gradient)"));
    }
  }
  const std::string& pads = g.Input("pads");
  const std::string negated = g.TempLike("negated_pads", pads);
  g.Emit("Neg", {{"X", {pads}}}, {{"Y", {negated}}});
  g.Emit("Pad", {{"data", {g.OutputGrad("output")}}, {"pads", {negated}}},
         {{"output", {g.InputGrad("data")}}});
  return absl::OkStatus();
}

absl::Status ExpandGrad(GradBuilder& g) {
  if (g.NeedsGrad("input"))
    EmitBroadcastGrad(g, "input", 0, g.OutputGrad("output"), g.Output("output"));
  return absl::OkStatus();
}

absl::Status TileGrad(GradBuilder& g) {
  if (!g.NeedsGrad("input")) return absl::OkStatus();
  g.Emit("fleet.tile_grad", {{"OutGrad", {g.OutputGrad("output")}}, {"Like", {g.Input("input")}}},
         {{"XGrad", {g.InputGrad("input")}}});
  return absl::OkStatus();
}

}  // namespace

void AddShapeGradRules(GradRuleTable& table) {
  table.Add("Reshape", [](GradBuilder& g) { return ViewGrad(g, "data", "reshaped"); });
  table.Add("Flatten", [](GradBuilder& g) { return ViewGrad(g, "input", "output"); });
  table.Add("Squeeze", [](GradBuilder& g) { return ViewGrad(g, "data", "squeezed"); });
  table.Add("Unsqueeze", [](GradBuilder& g) { return ViewGrad(g, "data", "expanded"); });
  table.Add("Transpose", TransposeGrad);
  table.Add("Concat", ConcatGrad);
  table.Add("Split", SplitGrad);
  table.Add("Slice", SliceGrad);
  table.Add("Pad", PadGrad);
  table.Add("Expand", ExpandGrad);
  table.Add("Tile", TileGrad);
}

}  // namespace fleet
