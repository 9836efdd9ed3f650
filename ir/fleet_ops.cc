// Schemas of Fleet's own ops.
//
// Optimizer updates follow Paddle's slot layout: the state a step changes is
// both an input and an output (`Param` -> `ParamOut`, `Moment1` ->
// `Moment1Out`, ...), and a program names the same var in both, so the update
// is in place. `LearningRate` is a one-element f32 var (a schedule op may write
// it each step). The update formulas are documented with the CPU kernels
// (kernels/cpu/optimizer.cc). Slots in type group "T" hold the parameter's
// dtype. Every update takes `weight_decay`: L2 decay added to the gradient
// (g += weight_decay * p, as torch.optim does), except fleet.adamw, where it
// is AdamW's decoupled decay. A `Grad` may be sparse rows (an embedding's
// gradient); the kernels then update only the rows it names.
//
// fleet.multi_update applies one update op type (`update`: "fleet.adam", ...) to many
// parameters at once, as the fuse-optimizer pass makes it from a run of those ops:
//   (ParamOut: [p...], StateOut: [s...]) = fleet.multi_update(Param: [p...], State: [s...],
//        Grad: [g...], LearningRate: lr) {update = "fleet.adam", beta1 = ..., ...}
// State lists each parameter's state inputs in the update's slot order, parameter after
// parameter (Adam: Moment1, Moment2, Beta1Pow, Beta2Pow of p0, then of p1, ...). The other
// attributes are the update's own, shared by every parameter. Input i and output i are the same
// var, so the whole update is in place; on a GPU it is one kernel launch.
//
// Training bookkeeping (kernels/cpu/training.cc):
//   fleet.fill_constant  () -> Out: a `dtype` tensor of `shape`, every element
//                        `value` (the startup program's initialisers)
//   fleet.increment      X -> Out: X + step (the i64 step counter)
//   fleet.lr_schedule    Step -> LearningRate: base_lr under linear warm-up
//                        and a decay (constant, cosine, linear, exponential,
//                        step), as an f32[1]
//   fleet.clip_by_global_norm  X... -> Out...: every X scaled by
//                        min(1, max_norm / (norm + 1e-6)), norm the 2-norm of
//                        all X together (torch.nn.utils.clip_grad_norm_)
//
// Device copies (kernels/cpu/memcpy.cc):
//   fleet.memcpy         X -> Out: a copy of X on the op's own device (its
//                        `device`, e.g. "cuda:0" for host-to-device); the
//                        insert-memcpy pass places them
#include "ir/fleet_ops.h"

#include <string>
#include <utility>

#include "ir/fleet_ops_util.h"

namespace fleet {
namespace {

using schema::AttrOf;
using schema::FloatAttr;
using schema::IntAttr;
using schema::MakeSchema;
using schema::OptionalSlot;
using schema::RequiredAttr;
using schema::SlotOf;
using schema::StringAttr;
using schema::VariadicSlot;

OpSchema Optimizer(std::string type, std::vector<SlotSpec> inputs, std::vector<SlotSpec> outputs,
                   std::vector<AttrSpec> attrs) {
  OpSchema s = MakeSchema(std::move(type), std::move(inputs), std::move(outputs), std::move(attrs));
  // Side effect: an update's outputs are persistable state nobody downstream
  // reads in the same step, so dead-code elimination must keep it.
  s.traits = kTraitOptimizer | kTraitSideEffect;
  return s;
}

OpSchema AdamSchema(std::string type, bool decoupled_weight_decay) {
  std::vector<AttrSpec> attrs = {FloatAttr("beta1", 0.9f), FloatAttr("beta2", 0.999f),
                                 FloatAttr("epsilon", 1e-8f),
                                 FloatAttr("weight_decay", decoupled_weight_decay ? 0.01f : 0.0f)};
  return Optimizer(std::move(type),
                   {SlotOf("Param"), SlotOf("Grad"), SlotOf("LearningRate", "LR"),
                    SlotOf("Moment1"), SlotOf("Moment2"), SlotOf("Beta1Pow"), SlotOf("Beta2Pow")},
                   {SlotOf("ParamOut"), SlotOf("Moment1Out"), SlotOf("Moment2Out"),
                    SlotOf("Beta1PowOut"), SlotOf("Beta2PowOut")},
                   std::move(attrs));
}

}  // namespace

std::vector<OpSchema> FleetOpSchemas() {
  std::vector<OpSchema> out;
  // Autodiff helpers. fill_like: Out has X's dtype and shape, every element `value`.
  // grad_sum: Out = the sum of the X (gradients of one var from several readers); all
  // sparse rows give sparse rows (ids concatenated), otherwise the result is dense.
  out.push_back(
      MakeSchema("fleet.fill_like", {SlotOf("X")}, {SlotOf("Out")}, {FloatAttr("value", 0.0f)}));
  out.push_back(MakeSchema("fleet.grad_sum", {VariadicSlot("X")}, {SlotOf("Out")}));
  // Broadcast and reduction gradients (kernels/cpu/grad_broadcast.cc): reduce_to_like sums X
  // down to Like's shape; expand_like spreads a reduction's gradient X back over Like's shape.
  out.push_back(MakeSchema("fleet.reduce_to_like", {SlotOf("X"), SlotOf("Like")}, {SlotOf("Out")}));
  out.push_back(MakeSchema("fleet.expand_like",
                           {SlotOf("X"), SlotOf("Like"), OptionalSlot("Axes", "I")},
                           {SlotOf("Out")},
                           {IntAttr("keepdims", 1), IntAttr("noop_with_empty_axes", 0),
                            IntAttr("mean", 0), AttrOf("axes", AttrType::kInts)}));
  out.push_back(Optimizer("fleet.sgd",
                          {SlotOf("Param"), SlotOf("Grad"), SlotOf("LearningRate", "LR")},
                          {SlotOf("ParamOut")}, {FloatAttr("weight_decay", 0.0f)}));
  out.push_back(Optimizer(
      "fleet.momentum",
      {SlotOf("Param"), SlotOf("Grad"), SlotOf("Velocity"), SlotOf("LearningRate", "LR")},
      {SlotOf("ParamOut"), SlotOf("VelocityOut")},
      {FloatAttr("mu", 0.9f), IntAttr("use_nesterov", 0), FloatAttr("weight_decay", 0.0f)}));
  out.push_back(AdamSchema("fleet.adam", /*decoupled_weight_decay=*/false));
  out.push_back(AdamSchema("fleet.adamw", /*decoupled_weight_decay=*/true));
  out.push_back(
      Optimizer("fleet.adagrad",
                {SlotOf("Param"), SlotOf("Grad"), SlotOf("Moment"), SlotOf("LearningRate", "LR")},
                {SlotOf("ParamOut"), SlotOf("MomentOut")},
                // initial_accumulator_value: what the startup program fills Moment with (the kernel
                // does not read it).
                {FloatAttr("epsilon", 1e-6f), FloatAttr("weight_decay", 0.0f),
                 FloatAttr("initial_accumulator_value", 0.0f)}));

  {
    SlotSpec state = VariadicSlot("State");
    state.min_arity = 0;
    SlotSpec state_out = VariadicSlot("StateOut");
    state_out.min_arity = 0;
    out.push_back(Optimizer(
        "fleet.multi_update",
        {VariadicSlot("Param"), state, VariadicSlot("Grad"), SlotOf("LearningRate", "LR")},
        {VariadicSlot("ParamOut"), state_out},
        // The update's attributes, without defaults: absent ones take the update's own.
        {RequiredAttr("update", AttrType::kString), AttrOf("weight_decay", AttrType::kFloat),
         AttrOf("mu", AttrType::kFloat), AttrOf("use_nesterov", AttrType::kInt),
         AttrOf("beta1", AttrType::kFloat), AttrOf("beta2", AttrType::kFloat),
         AttrOf("epsilon", AttrType::kFloat),
         AttrOf("initial_accumulator_value", AttrType::kFloat)}));
  }
  OpSchema fill = MakeSchema("fleet.fill_constant", {}, {SlotOf("Out", "")},
                             {RequiredAttr("dtype", AttrType::kString),
                              RequiredAttr("shape", AttrType::kInts), FloatAttr("value", 0.0f)});
  out.push_back(std::move(fill));
  OpSchema increment =
      MakeSchema("fleet.increment", {SlotOf("X")}, {SlotOf("Out")}, {IntAttr("step", 1)});
  increment.traits = kTraitSideEffect;
  out.push_back(std::move(increment));
  OpSchema schedule =
      MakeSchema("fleet.lr_schedule", {SlotOf("Step", "")}, {SlotOf("LearningRate", "")},
                 {RequiredAttr("base_lr", AttrType::kFloat), IntAttr("warmup_steps", 0),
                  StringAttr("decay", "constant"), IntAttr("decay_steps", 0),
                  FloatAttr("decay_rate", 0.0f), FloatAttr("min_lr", 0.0f)});
  schedule.traits = kTraitSideEffect;
  out.push_back(std::move(schedule));
  out.push_back(MakeSchema("fleet.clip_by_global_norm", {VariadicSlot("X")}, {VariadicSlot("Out")},
                           {RequiredAttr("max_norm", AttrType::kFloat)}));
  out.push_back(MakeSchema("fleet.memcpy", {SlotOf("X")}, {SlotOf("Out")}));
  for (std::vector<OpSchema> part :
       {ElementwiseGradOpSchemas(), ShapeGradOpSchemas(), LossGradOpSchemas(), NnGradOpSchemas(),
        ControlFlowOpSchemas(), CommunicationOpSchemas(), ParameterServerOpSchemas(),
        AmpOpSchemas()}) {
    for (OpSchema& s : part) out.push_back(std::move(s));
  }
  return out;
}

}  // namespace fleet
