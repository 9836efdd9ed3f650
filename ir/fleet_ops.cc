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
#include "ir/fleet_ops.h"

#include <string>
#include <utility>

namespace fleet {
namespace {

SlotSpec SlotNamed(std::string name, std::string type_group = "T") {
  SlotSpec s;
  s.name = std::move(name);
  s.type_group = std::move(type_group);
  return s;
}

AttrSpec FloatAttr(std::string name, float default_value) {
  AttrSpec a;
  a.name = std::move(name);
  a.type = AttrType::kFloat;
  a.default_value = AttrValue(default_value);
  return a;
}

AttrSpec IntAttr(std::string name, int64_t default_value) {
  AttrSpec a;
  a.name = std::move(name);
  a.type = AttrType::kInt;
  a.default_value = AttrValue(default_value);
  return a;
}

AttrSpec StringAttr(std::string name, std::string default_value) {
  AttrSpec a;
  a.name = std::move(name);
  a.type = AttrType::kString;
  a.default_value = AttrValue(std::move(default_value));
  return a;
}

AttrSpec Required(std::string name, AttrType type) {
  AttrSpec a;
  a.name = std::move(name);
  a.type = type;
  a.required = true;
  return a;
}

AttrSpec IntsAttr(std::string name) {
  AttrSpec a;
  a.name = std::move(name);
  a.type = AttrType::kInts;
  return a;
}

OpSchema Optimizer(std::string type, std::vector<SlotSpec> inputs, std::vector<SlotSpec> outputs,
                   std::vector<AttrSpec> attrs) {
  OpSchema s;
  s.type = std::move(type);
  s.inputs = std::move(inputs);
  s.outputs = std::move(outputs);
  for (AttrSpec& a : attrs) {
    std::string name = a.name;
    s.attrs.emplace(std::move(name), std::move(a));
  }
  // Side effect: an update's outputs are persistable state nobody downstream
  // reads in the same step, so dead-code elimination must keep it.
  s.traits = kTraitOptimizer | kTraitSideEffect;
  return s;
}

OpSchema AdamSchema(std::string type, bool decoupled_weight_decay) {
  std::vector<AttrSpec> attrs = {FloatAttr("beta1", 0.9f), FloatAttr("beta2", 0.999f),
                                 FloatAttr("epsilon", 1e-8f),
                                 FloatAttr("weight_decay", decoupled_weight_decay ? 0.01f : 0.0f)};
  return Optimizer(
      std::move(type),
      {SlotNamed("Param"), SlotNamed("Grad"), SlotNamed("LearningRate", "LR"), SlotNamed("Moment1"),
       SlotNamed("Moment2"), SlotNamed("Beta1Pow"), SlotNamed("Beta2Pow")},
      {SlotNamed("ParamOut"), SlotNamed("Moment1Out"), SlotNamed("Moment2Out"),
       SlotNamed("Beta1PowOut"), SlotNamed("Beta2PowOut")},
      std::move(attrs));
}

OpSchema Plain(std::string type, std::vector<SlotSpec> inputs, std::vector<SlotSpec> outputs,
                std::vector<AttrSpec> attrs) {
  OpSchema s;
  s.type = std::move(type);
  s.inputs = std::move(inputs);
  s.outputs = std::move(outputs);
  for (AttrSpec& a : attrs) {
    std::string name = a.name;
    s.attrs.emplace(std::move(name), std::move(a));
  }
  return s;
}

SlotSpec Variadic(std::string name) {
  SlotSpec s = SlotNamed(std::move(name));
  s.arity = SlotArity::kVariadic;
  return s;
}

}  // namespace

std::vector<OpSchema> FleetOpSchemas() {
  std::vector<OpSchema> out;
  // Autodiff helpers. fill_like: Out has X's dtype and shape, every element `value`.
  // grad_sum: Out = the sum of the X (gradients of one var from several readers); all
  // sparse rows give sparse rows (ids concatenated), otherwise the result is dense.
  out.push_back(Plain("fleet.fill_like", {SlotNamed("X")}, {SlotNamed("Out")},
                      {FloatAttr("value", 0.0f)}));
  out.push_back(Plain("fleet.grad_sum", {Variadic("X")}, {SlotNamed("Out")}, {}));
  // Broadcast and reduction gradients (kernels/cpu/grad_broadcast.cc): reduce_to_like sums X
  // down to Like's shape; expand_like spreads a reduction's gradient X back over Like's shape.
  out.push_back(Plain("fleet.reduce_to_like", {SlotNamed("X"), SlotNamed("Like")},
                      {SlotNamed("Out")}, {}));
  SlotSpec axes = SlotNamed("Axes", "I");
  axes.arity = SlotArity::kOptional;
  out.push_back(Plain("fleet.expand_like", {SlotNamed("X"), SlotNamed("Like"), axes},
                      {SlotNamed("Out")},
                      {IntAttr("keepdims", 1), IntAttr("noop_with_empty_axes", 0),
                       IntAttr("mean", 0), IntsAttr("axes")}));
  out.push_back(Optimizer("fleet.sgd",
                          {SlotNamed("Param"), SlotNamed("Grad"), SlotNamed("LearningRate", "LR")},
                          {SlotNamed("ParamOut")}, {FloatAttr("weight_decay", 0.0f)}));
  out.push_back(Optimizer("fleet.momentum",
                          {SlotNamed("Param"), SlotNamed("Grad"), SlotNamed("Velocity"),
                           SlotNamed("LearningRate", "LR")},
                          {SlotNamed("ParamOut"), SlotNamed("VelocityOut")},
                          {FloatAttr("mu", 0.9f), IntAttr("use_nesterov", 0),
                           FloatAttr("weight_decay", 0.0f)}));
  out.push_back(AdamSchema("fleet.adam", /*decoupled_weight_decay=*/false));
  out.push_back(AdamSchema("fleet.adamw", /*decoupled_weight_decay=*/true));
  out.push_back(Optimizer(
      "fleet.adagrad",
      {SlotNamed("Param"), SlotNamed("Grad"), SlotNamed("Moment"), SlotNamed("LearningRate", "LR")},
      {SlotNamed("ParamOut"), SlotNamed("MomentOut")},
      // initial_accumulator_value: what the startup program fills Moment with (the kernel
      // does not read it).
      {FloatAttr("epsilon", 1e-6f), FloatAttr("weight_decay", 0.0f),
       FloatAttr("initial_accumulator_value", 0.0f)}));

  OpSchema fill = Plain("fleet.fill_constant", {}, {SlotNamed("Out", "")},
                        {Required("dtype", AttrType::kString), Required("shape", AttrType::kInts),
                         FloatAttr("value", 0.0f)});
  out.push_back(std::move(fill));
  OpSchema increment =
      Plain("fleet.increment", {SlotNamed("X")}, {SlotNamed("Out")}, {IntAttr("step", 1)});
  increment.traits = kTraitSideEffect;
  out.push_back(std::move(increment));
  OpSchema schedule = Plain(
      "fleet.lr_schedule", {SlotNamed("Step", "")}, {SlotNamed("LearningRate", "")},
      {Required("base_lr", AttrType::kFloat), IntAttr("warmup_steps", 0),
       StringAttr("decay", "constant"), IntAttr("decay_steps", 0), FloatAttr("decay_rate", 0.0f),
       FloatAttr("min_lr", 0.0f)});
  schedule.traits = kTraitSideEffect;
  out.push_back(std::move(schedule));
  out.push_back(Plain("fleet.clip_by_global_norm", {Variadic("X")}, {Variadic("Out")},
                      {Required("max_norm", AttrType::kFloat)}));
  for (std::vector<OpSchema> part : {ElementwiseGradOpSchemas(), ShapeGradOpSchemas(),
                                     LossGradOpSchemas(), NnGradOpSchemas()}) {
    for (OpSchema& s : part) out.push_back(std::move(s));
  }
  return out;
}

}  // namespace fleet
