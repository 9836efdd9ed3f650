// Gradient rules of the indexing ops.
//
// Gather on a parameter along axis 0 is an embedding lookup: its gradient touches only the
// looked-up rows, so it is sparse rows (fleet.gather_grad_sparse: the output gradient as the
// values, the indices as the row ids, no scatter into a dense table). Other Gathers and
// GatherElements add the output gradient into zeros shaped like the data (fleet.gather_grad,
// fleet.gather_elements_grad).
#include <string>

#include "ir/grad/grad_rules.h"
#include "ir/op_schema.h"

namespace fleet {
namespace {

int64_t AxisAttr(const Op& op) {
  auto it = op.attrs.find("axis");
  if (it == op.attrs.end()) return 0;
  const int64_t* axis = std::get_if<int64_t>(&it->second);
  return axis == nullptr ? 0 : *axis;
}

absl::Status GatherGrad(GradBuilder& g) {
  if (!g.NeedsGrad("data")) return absl::OkStatus();
  const Var* data = g.InputVar("data");
  const int64_t axis = AxisAttr(g.op());
  const bool axis0 = axis == 0 || (data != nullptr && data->shape &&
                                   axis == -static_cast<int64_t>(data->shape->size()));
  const bool table = data != nullptr && data->Has(kVarParameter) && axis0;
  std::vector<Slot> inputs = {{"OutGrad", {g.OutputGrad("output")}},
                              {"Indices", {g.Input("indices")}},
                              {"Like", {g.Input("data")}}};
  if (table) {
    g.Emit("fleet.gather_grad_sparse", std::move(inputs),
           {{"XGrad", {g.InputGrad("data", 0, VarKind::kSparseRows)}}});
  } else {
    g.Emit("fleet.gather_grad", std::move(inputs), {{"XGrad", {g.InputGrad("data")}}},
           {{"axis", AttrValue(axis)}});
  }
  return absl::OkStatus();
}

absl::Status GatherElementsGrad(GradBuilder& g) {
  if (!g.NeedsGrad("data")) return absl::OkStatus();
  g.Emit("fleet.gather_elements_grad",
         {{"OutGrad", {g.OutputGrad("output")}},
          {"Indices", {g.Input("indices")}},
          {"Like", {g.Input("data")}}},
         {{"XGrad", {g.InputGrad("data")}}}, {{"axis", AttrValue(AxisAttr(g.op()))}});
  return absl::OkStatus();
}

}  // namespace

void AddIndexGradRules(GradRuleTable& table) {
  table.Add("Gather", GatherGrad);
  table.Add("GatherElements", GatherElementsGrad);
}

}  // namespace fleet
