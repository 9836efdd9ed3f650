// optimizer: appends the update of every trainable parameter, after autodiff.
//
// For each main-block var marked trainable (kVarTrainable, set by autodiff) with its gradient
// "<param>@GRAD", the pass appends the strategy's update (role optimize), preceded by the
// learning rate of the step and gradient clipping, followed by the step count:
//
//   (LearningRate: %learning_rate) = fleet.lr_schedule(Step: %global_step) {base_lr = 0.1, ...}
//   (Out: [%w@GRAD@CLIP, ...]) = fleet.clip_by_global_norm(X: [%w@GRAD, ...]) {max_norm = 5.0}
//   (ParamOut: %w, Moment1Out: %w@moment1, ...) = fleet.adam(Param: %w, Grad: %w@GRAD@CLIP,
//       LearningRate: %learning_rate, Moment1: %w@moment1, ...) {beta1 = 0.9, ...}
//   (Out: %global_step) = fleet.increment(X: %global_step)
//
// (the clip op only with training.grad_clip_norm > 0; the schedule and increment carry the
// role lr_sched). Each update op records the pair (param, the gradient it reads) in
// Op::role_vars, the clip op the pair (param, <param>@GRAD) of every gradient it clips, so
// distribution passes find them. The state vars are persistable, named after the parameter:
//   momentum          <param>@velocity
//   adam, adamw       <param>@moment1, <param>@moment2, <param>@beta1_pow, <param>@beta2_pow
//   adagrad           <param>@moment
// plus one f32[1] "learning_rate" and one i64[1] step counter "global_step" ("_1", ... when
// the model has vars of those names), whose names the pass records in
// ProgramMeta::training (learning_rate, step, and the update op type as optimizer). Their
// initial values
// come from the startup program (passes/training/startup.h). Hyper-parameters left unset take
// torch.optim's defaults; sgd with a momentum > 0 becomes fleet.momentum.
#include <cmath>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "ir/grad_builder.h"
#include "ir/status_macros.h"
#include "passes/builtin_passes.h"
#include "passes/strategy.h"

namespace fleet {
namespace {

using proto::TrainingConfig;

// The update the strategy asks for, with every default filled in.
struct Update {
  std::string op_type;  // "fleet.sgd", ...
  AttrMap attrs;        // the update op's hyper-parameters
  float lr = 0;
};

absl::StatusOr<Update> ResolveUpdate(const TrainingConfig& t) {
  const std::string& name = t.optimizer();
  if (name.empty()) {
    return absl::InvalidArgumentError(
        "the strategy names no optimizer; expected --optimizer sgd, momentum, adam, adamw or "
        "adagrad (training.optimizer)");
  }
  if (!IsKnownOptimizer(name)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "unknown optimizer '", name, "'; expected one of sgd, momentum, adam, adamw, adagrad"));
  }
  Update u;
  double lr = t.lr();
  if (!(lr >= 0) || !std::isfinite(lr)) {
    return absl::InvalidArgumentError(
        absl::StrCat("learning rate ", lr, " is invalid; expected a number > 0 (--lr)"));
  }
  auto wd = [&](double default_value) {
    return AttrValue(static_cast<float>(t.has_weight_decay() ? t.weight_decay() : default_value));
  };
  if (name == "sgd" || name == "momentum") {
    if (lr == 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "optimizer '", name, "' needs a learning rate > 0; got none (--lr, training.lr)"));
    }
    const double mu = t.has_momentum() ? t.momentum() : (name == "momentum" ? 0.9 : 0.0);
    u.op_type = mu > 0 || name == "momentum" ? "fleet.momentum" : "fleet.sgd";
    if (u.op_type == "fleet.momentum") {
      u.attrs["mu"] = AttrValue(static_cast<float>(mu));
      u.attrs["use_nesterov"] = AttrValue(int64_t{t.nesterov() ? 1 : 0});
    }
    u.attrs["weight_decay"] = wd(0.0);
  } else if (name == "adam" || name == "adamw") {
    if (lr == 0) lr = 1e-3;
    u.op_type = absl::StrCat("fleet.", name);
    u.attrs["beta1"] = AttrValue(static_cast<float>(t.has_beta1() ? t.beta1() : 0.9));
    u.attrs["beta2"] = AttrValue(static_cast<float>(t.has_beta2() ? t.beta2() : 0.999));
    u.attrs["epsilon"] = AttrValue(static_cast<float>(t.has_epsilon() ? t.epsilon() : 1e-8));
    u.attrs["weight_decay"] = wd(name == "adamw" ? 0.01 : 0.0);
  } else {  // adagrad
    if (lr == 0) lr = 1e-2;
    u.op_type = "fleet.adagrad";
    u.attrs["epsilon"] = AttrValue(static_cast<float>(t.has_epsilon() ? t.epsilon() : 1e-10));
    u.attrs["weight_decay"] = wd(0.0);
    u.attrs["initial_accumulator_value"] =
        AttrValue(static_cast<float>(t.has_initial_accumulator() ? t.initial_accumulator() : 0.0));
  }
  u.lr = static_cast<float>(lr);
  return u;
}

Op ScheduleOp(const TrainingConfig& t, float lr, const std::string& step,
              const std::string& lr_var) {
  const proto::LrSchedule& s = t.lr_schedule();
  Op op;
  op.type = "fleet.lr_schedule";
  op.name = "lr_schedule";
  op.inputs = {{"Step", {step}}};
  op.outputs = {{"LearningRate", {lr_var}}};
  op.attrs["base_lr"] = AttrValue(lr);
  op.attrs["warmup_steps"] = AttrValue(int64_t{s.warmup_steps()});
  op.attrs["decay"] = AttrValue(DecayName(s.decay()));
  op.attrs["decay_steps"] = AttrValue(int64_t{s.decay_steps()});
  const double rate =
      s.has_decay_rate() ? s.decay_rate() : (s.decay() == proto::LrSchedule::STEP ? 0.1 : 0.0);
  op.attrs["decay_rate"] = AttrValue(static_cast<float>(rate));
  op.attrs["min_lr"] = AttrValue(static_cast<float>(s.min_lr()));
  op.role = kRoleLRSchedule;
  return op;
}

// The state slots of each update op: (slot, var suffix, dtype/shape like the param or [1]).
struct StateSlot {
  const char* slot;
  const char* suffix;
  bool scalar;
};

std::vector<StateSlot> StateSlots(const std::string& op_type) {
  if (op_type == "fleet.momentum") return {{"Velocity", "velocity", false}};
  if (op_type == "fleet.adam" || op_type == "fleet.adamw") {
    return {{"Moment1", "moment1", false},
            {"Moment2", "moment2", false},
            {"Beta1Pow", "beta1_pow", true},
            {"Beta2Pow", "beta2_pow", true}};
  }
  if (op_type == "fleet.adagrad") return {{"Moment", "moment", false}};
  return {};
}

// The update op of one parameter, declaring its state vars in `block`.
absl::StatusOr<Op> UpdateOp(Block& block, const Update& u, const Var& param,
                            const std::string& grad, const std::string& lr_var) {
  Op op;
  op.type = u.op_type;
  op.name = absl::StrCat(param.name, "@update");
  op.attrs = u.attrs;
  op.role = kRoleOptimize;
  AddRoleVar(op, param.name, grad);
  std::vector<Slot> state_in, state_out;
  for (const StateSlot& s : StateSlots(u.op_type)) {
    Var v;
    v.name = absl::StrCat(param.name, "@", s.suffix);
    v.dtype = param.dtype;
    v.shape = s.scalar ? std::vector<int64_t>{1} : *param.shape;
    v.flags = kVarPersistable;
    if (!block.AddVar(v)) {
      return absl::InvalidArgumentError(absl::StrCat("optimizer state var '", v.name,
                                                     "' of parameter '", param.name,
                                                     "' is already declared; rename that var"));
    }
    state_in.push_back({s.slot, {v.name}});
    state_out.push_back({absl::StrCat(s.slot, "Out"), {v.name}});
  }
  op.inputs = {{"Param", {param.name}}, {"Grad", {grad}}};
  Slot lr_slot{"LearningRate", {lr_var}};
  // Schema order: momentum and adagrad take the state before LearningRate, Adam after.
  if (u.op_type == "fleet.adam" || u.op_type == "fleet.adamw" || u.op_type == "fleet.sgd") {
    op.inputs.push_back(lr_slot);
    op.inputs.insert(op.inputs.end(), state_in.begin(), state_in.end());
  } else {
    op.inputs.insert(op.inputs.end(), state_in.begin(), state_in.end());
    op.inputs.push_back(lr_slot);
  }
  op.outputs = {{"ParamOut", {param.name}}};
  op.outputs.insert(op.outputs.end(), state_out.begin(), state_out.end());
  return op;
}

// A parameter the pass updates: declared, persistable, float, of static shape, with its
// gradient declared in the same dtype.
absl::Status CheckParam(const Block& block, const Var& param) {
  auto bad = [&](const std::string& why) {
    return absl::InvalidArgumentError(absl::StrCat("trainable parameter '", param.name, "' ", why));
  };
  if (!param.Has(kVarPersistable)) return bad("is not persistable; expected a persistable var");
  if (param.dtype != DataType::kF32 && param.dtype != DataType::kF64) {
    return bad(absl::StrCat("is ", DataTypeName(param.dtype), "; expected f32 or f64"));
  }
  if (!param.shape) return bad("has an unknown rank; expected a static shape");
  for (int64_t d : *param.shape) {
    if (d < 0) return bad("has an unknown dimension; expected a static shape");
  }
  const Var* grad = block.FindVar(GradVarName(param.name));
  if (grad == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat("trainable parameter '", param.name, "' has no gradient var '",
                     GradVarName(param.name), "'; run autodiff first"));
  }
  if (grad->dtype != param.dtype) {
    return bad(absl::StrCat("has gradient '", grad->name, "' of dtype ", DataTypeName(grad->dtype),
                            "; expected ", DataTypeName(param.dtype)));
  }
  return absl::OkStatus();
}

Var Declared(std::string name, DataType dtype) {
  Var v;
  v.name = std::move(name);
  v.dtype = dtype;
  v.shape = std::vector<int64_t>{1};
  v.flags = kVarPersistable;
  return v;
}

class OptimizerPass final : public Pass {
 public:
  std::string_view name() const override { return "optimizer"; }
  std::string_view description() const override {
    return "appends the strategy's optimizer update of every trainable parameter (after "
           "autodiff), with the LR schedule, gradient clipping and the step counter";
  }

  // A whole-program pass on the main block, where training happens: it overrides Run, so it
  // does not visit sub-blocks.
  absl::StatusOr<bool> Run(Program& program, PassContext& ctx) override {
    if (ctx.strategy() == nullptr) {
      return absl::InvalidArgumentError(
          "no strategy: the optimizer pass reads training.optimizer and training.lr "
          "(--optimizer, --lr)");
    }
    FLEET_RETURN_IF_ERROR(ValidateStrategy(*ctx.strategy()));
    const TrainingConfig& t = ctx.strategy()->training();
    FLEET_ASSIGN_OR_RETURN(Update update, ResolveUpdate(t));
    Block& block = program.main();
    for (const Op& op : block.ops) {
      if (HasRole(op, kRoleOptimize)) {
        return absl::FailedPreconditionError(absl::StrCat(
            op.Describe(), ": the program already has optimizer ops; run the optimizer pass once"));
      }
    }
    std::vector<std::string> params;
    for (const Var& v : block.vars()) {
      if (!v.Has(kVarTrainable)) continue;
      FLEET_RETURN_IF_ERROR(CheckParam(block, v));
      params.push_back(v.name);
    }
    if (params.empty()) {
      return absl::FailedPreconditionError(
          "the program has no trainable parameters (vars marked trainable with a gradient "
          "'<param>@GRAD'); run autodiff first");
    }

    const std::string lr_var = FreshVarName(block, "learning_rate");
    block.AddVar(Declared(lr_var, DataType::kF32));
    const std::string step = FreshVarName(block, "global_step");
    block.AddVar(Declared(step, DataType::kI64));
    block.ops.push_back(ScheduleOp(t, update.lr, step, lr_var));

    std::vector<std::string> grads;
    for (const std::string& p : params) grads.push_back(GradVarName(p));
    if (t.grad_clip_norm() > 0) {
      Op clip;
      clip.type = "fleet.clip_by_global_norm";
      clip.name = "clip_grad_norm";
      clip.attrs["max_norm"] = AttrValue(static_cast<float>(t.grad_clip_norm()));
      clip.role = kRoleOptimize;
      std::vector<std::string> clipped;
      for (const std::string& g : grads) {
        Var v = *block.FindVar(g);
        v.name = FreshVarName(block, absl::StrCat(g, "@CLIP"));
        v.flags = 0;
        block.AddVar(v);
        clipped.push_back(v.name);
      }
      clip.inputs = {{"X", grads}};
      clip.outputs = {{"Out", clipped}};
      for (size_t i = 0; i < params.size(); ++i) AddRoleVar(clip, params[i], grads[i]);
      block.ops.push_back(std::move(clip));
      grads = std::move(clipped);
    }
    for (size_t i = 0; i < params.size(); ++i) {
      const Var param = *block.FindVar(params[i]);
      FLEET_ASSIGN_OR_RETURN(Op op, UpdateOp(block, update, param, grads[i], lr_var));
      block.ops.push_back(std::move(op));
    }
    Op increment;
    increment.type = "fleet.increment";
    increment.name = "step_increment";
    increment.inputs = {{"X", {step}}};
    increment.outputs = {{"Out", {step}}};
    increment.role = kRoleLRSchedule;
    block.ops.push_back(std::move(increment));

    program.meta.training.learning_rate = lr_var;
    program.meta.training.step = step;
    program.meta.training.optimizer = update.op_type;
    ctx.Note(absl::StrCat(update.op_type, " updates of ", params.size(), " parameters (",
                          absl::StrJoin(params, ", "), ")"));
    return true;
  }
};

}  // namespace

std::unique_ptr<Pass> CreateOptimizerPass() { return std::make_unique<OptimizerPass>(); }

}  // namespace fleet
