// Schemas of the loss-scaling ops of mixed-precision training (the amp pass,
// passes/training/amp.cc), after PyTorch's GradScaler and Paddle's AMP ops:
//
//   fleet.check_finite_and_unscale  X..., Scale -> Out..., AllFinite
//       Out[i] = X[i] * (1 / Scale), in place (the program names X[i] for Out[i]); AllFinite, a
//       bool[], is true when every element of every X is finite. A sparse-rows X has its values
//       unscaled and its rows kept. Scale is the f32[] loss scale.
//   fleet.update_loss_scaling  AllFinite, Scale, GoodSteps, SkippedSteps
//                                -> ScaleOut, GoodStepsOut, SkippedStepsOut
//       After a finite step GoodSteps (i64[]) counts up, and when it reaches
//       incr_every_n_steps the scale is multiplied by incr_ratio and the count restarts. After
//       a step with an inf or NaN the scale is multiplied by decr_ratio, the count restarts,
//       and SkippedSteps (i64[], the steps whose update did not run) counts up. In place: each
//       output is its input's var. init_scale is the scale the startup program gives Scale.
#include <utility>
#include <vector>

#include "ir/fleet_ops.h"
#include "ir/fleet_ops_util.h"

namespace fleet {

std::vector<OpSchema> AmpOpSchemas() {
  using schema::FloatAttr;
  using schema::IntAttr;
  using schema::MakeSchema;
  using schema::SlotOf;
  using schema::VariadicSlot;
  std::vector<OpSchema> out;
  out.push_back(MakeSchema("fleet.check_finite_and_unscale",
                           {VariadicSlot("X"), SlotOf("Scale", "S")},
                           {VariadicSlot("Out"), SlotOf("AllFinite", "")}, {}));
  OpSchema update = MakeSchema(
      "fleet.update_loss_scaling",
      {SlotOf("AllFinite", ""), SlotOf("Scale", "S"), SlotOf("GoodSteps", ""),
       SlotOf("SkippedSteps", "")},
      {SlotOf("ScaleOut", "S"), SlotOf("GoodStepsOut", ""), SlotOf("SkippedStepsOut", "")},
      {IntAttr("incr_every_n_steps", 2000), FloatAttr("incr_ratio", 2.0f),
       FloatAttr("decr_ratio", 0.5f), FloatAttr("init_scale", 65536.0f)});
  update.traits = kTraitSideEffect;
  out.push_back(std::move(update));
  return out;
}

}  // namespace fleet
