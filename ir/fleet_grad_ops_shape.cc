// Schemas of the gradient ops of the shape and indexing ops (kernels in kernels/cpu/
// grad_shape.cc and grad_index.cc). Inputs named Like are read for their shape only.
//
//   fleet.reshape_like(X, Like) -> Out          X viewed with Like's shape (no copy)
//   fleet.concat_grad(X, Inputs...) -> Out...   X (the gradient of Concat's result) cut along
//                                               `axis` into pieces shaped like the Inputs;
//                                               `select` lists the inputs that get an output
//                                               (default: all), in order
//   fleet.slice_grad(OutGrad, Like, Starts, Ends, Axes?, Steps?) -> XGrad
//                                               zeros like Like with OutGrad written where
//                                               Slice read
//   fleet.tile_grad(OutGrad, Like) -> XGrad     OutGrad summed over the tiles
//   fleet.gather_grad(OutGrad, Indices, Like) -> XGrad
//                                               zeros like Like, OutGrad added at the gathered
//                                               positions along `axis` (dense)
//   fleet.gather_grad_sparse(OutGrad, Indices, Like) -> XGrad
//                                               the same for axis 0 as sparse rows: values
//                                               OutGrad viewed [n, row...], rows the indices
//   fleet.gather_elements_grad(OutGrad, Indices, Like) -> XGrad
//                                               zeros like Like, OutGrad added where
//                                               GatherElements read along `axis`
#include "ir/fleet_ops.h"
#include "ir/fleet_ops_util.h"

namespace fleet {

std::vector<OpSchema> ShapeGradOpSchemas() {
  using schema::AttrOf;
  using schema::IntAttr;
  using schema::MakeSchema;
  using schema::OptionalSlot;
  using schema::SlotOf;
  using schema::VariadicSlot;
  std::vector<OpSchema> out;
  out.push_back(
      MakeSchema("fleet.reshape_like", {SlotOf("X", ""), SlotOf("Like", "")}, {SlotOf("Out", "")}));
  out.push_back(MakeSchema("fleet.concat_grad", {SlotOf("X"), VariadicSlot("Inputs")},
                           {VariadicSlot("Out")},
                           {IntAttr("axis", 0), AttrOf("select", AttrType::kInts)}));
  out.push_back(
      MakeSchema("fleet.slice_grad",
                 {SlotOf("OutGrad"), SlotOf("Like"), SlotOf("Starts", "I"), SlotOf("Ends", "I"),
                  OptionalSlot("Axes", "I"), OptionalSlot("Steps", "I")},
                 {SlotOf("XGrad")}));
  out.push_back(
      MakeSchema("fleet.tile_grad", {SlotOf("OutGrad"), SlotOf("Like")}, {SlotOf("XGrad")}));
  const AttrSpec axis = IntAttr("axis", 0);
  for (const char* type :
       {"fleet.gather_grad", "fleet.gather_grad_sparse", "fleet.gather_elements_grad"}) {
    out.push_back(MakeSchema(type, {SlotOf("OutGrad"), SlotOf("Indices", "I"), SlotOf("Like")},
                             {SlotOf("XGrad")}, {axis}));
  }
  return out;
}

}  // namespace fleet
