// autodiff: appends the backward ops that compute the gradient of the loss with respect to
// every trainable parameter (reverse mode).
//
// The loss is the scalar the loss pass marked (an op with the loss role writing a fetched
// scalar). The pass
//   0. rewrites the ops that train differently into their training forms (train_mode.h:
//      BatchNormalization uses batch statistics);
//   1. finds the ops on a path from a parameter (a floating-point initializer not named by
//      training.stop_gradient) to the loss, through float vars only, skipping the vars named
//      by stop_gradient;
//   2. seeds "<loss>@GRAD" with ones and walks those ops in reverse, calling each op's
//      gradient rule (OpSchema::grad, ir/grad_builder.h). A var read by several ops gets one
//      gradient per reader ("<var>@GRAD@RENAME@k"), added by fleet.grad_sum into
//      "<var>@GRAD" before its producer is differentiated;
//   3. marks every parameter that received a gradient trainable (kVarTrainable), records the
//      pair (<param>, <param>@GRAD) on the op that writes the parameter's final gradient (its
//      fleet.grad_sum or Identity, or the rule's op: where a bucketed allreduce can start),
//      gives every op of the forward part the forward role (ops without one, or with only the
//      loss role) and records the loss var in ProgramMeta::training.loss, which makes the
//      program a training program (the verifier then requires a role on every op).
// An op on such a path without a gradient rule, a loss no parameter reaches, or a program
// that already has backward ops is an error naming the op or the loss.
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "ir/grad_builder.h"
#include "ir/op_schema.h"
#include "ir/status_macros.h"
#include "passes/builtin_passes.h"
#include "passes/strategy.h"
#include "passes/training/train_mode.h"

namespace fleet {
namespace {

bool IsScalarShape(const Var& v) {
  if (!v.shape) return false;
  for (int64_t d : *v.shape) {
    if (d != 1) return false;
  }
  return true;
}

// The loss var: a fetched floating-point scalar written by an op with the loss role.
absl::StatusOr<std::string> FindLoss(const Block& block) {
  std::vector<std::string> found;
  for (const Op& op : block.ops) {
    if (!HasRole(op, kRoleLoss)) continue;
    for (const std::string& out : op.OutputVars()) {
      const Var* v = block.FindVar(out);
      if (v != nullptr && v->Has(kVarFetch) && IsScalarShape(*v) && IsFloatingPoint(v->dtype)) {
        found.push_back(out);
      }
    }
  }
  if (found.size() == 1) return found[0];
  if (found.empty()) {
    return absl::FailedPreconditionError(
        "the program has no loss (a fetched scalar written by an op with the loss role); run "
        "the loss pass first");
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "the program has ", found.size(), " losses (", absl::StrJoin(found, ", "), "); expected one"));
}

class Autodiff {
 public:
  Autodiff(Block& block, const std::set<std::string>& stop) : block_(block), stop_(stop) {}

  // Returns the (parameter, final gradient) pairs, in var order.
  absl::StatusOr<std::vector<RoleVar>> Run(const std::string& loss) {
    const int num_forward = static_cast<int>(block_.ops.size());
    MarkRequiresGrad();
    if (!requires_grad_.count(loss)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "no parameter has a differentiable path to the loss '", loss,
          "' (paths through integer vars, shape-only ops or stop_gradient vars carry no "
          "gradient)"));
    }
    MarkReachesLoss(loss, num_forward);
    for (const std::string& v : requires_grad_) {
      if (reaches_loss_.count(v) && !stop_.count(v)) needs_grad_.insert(v);
    }
    CountContributions(num_forward);

    // d loss / d loss = 1.
    Var seed = *block_.FindVar(loss);
    seed.name = GradVarName(loss);
    seed.flags = 0;
    seed.kind = VarKind::kDense;
    block_.AddVar(seed);
    Op fill;
    fill.type = "fleet.fill_like";
    fill.inputs = {{"X", {loss}}};
    fill.outputs = {{"Out", {seed.name}}};
    fill.attrs["value"] = AttrValue(1.0f);
    fill.role = kRoleBackward | kRoleLoss;
    block_.ops.push_back(std::move(fill));
    grads_[loss] = seed.name;

    for (int i = num_forward - 1; i >= 0; --i) {
      const Op op = block_.ops[i];  // a copy: rules append to block_.ops
      if (!OnPath(op)) continue;
      for (const std::string& out : op.OutputVars()) FinishGrad(out);
      std::map<std::string, std::string> out_grads;
      for (const std::string& out : op.OutputVars()) {
        auto it = grads_.find(out);
        if (it != grads_.end()) out_grads[out] = it->second;
      }
      if (out_grads.empty()) continue;
      const OpSchema* schema = FindOpSchema(op.type);
      if (schema == nullptr || !schema->grad) {
        return absl::UnimplementedError(absl::StrCat(
            op.Describe(), ": no gradient rule for ", op.type,
            ", which lies between a parameter and the loss; mark its inputs with "
            "stop_gradient to train without it"));
      }
      GradBuilder g(op, block_, out_grads, needs_grad_,
                    [this](const std::string& var, VarKind kind) { return NewPart(var, kind); });
      absl::Status s = schema->grad(g);
      if (!s.ok()) {
        return absl::Status(s.code(), absl::StrCat(op.Describe(), ": gradient: ", s.message()));
      }
    }

    std::vector<RoleVar> trained;
    for (const Var& v : std::vector<Var>(block_.vars())) {
      if (!IsTrainableCandidate(v)) continue;
      FinishGrad(v.name);
      if (grads_.count(v.name)) {
        block_.FindVar(v.name)->flags |= kVarTrainable;
        trained.push_back(RoleVar{v.name, grads_[v.name]});
      }
    }
    for (const RoleVar& pair : trained) RecordOnWriter(pair, num_forward);
    if (trained.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("no parameter receives a gradient from the loss '", loss, "'"));
    }
    return trained;
  }

 private:
  // Records `pair` on the last backward op that writes its gradient.
  void RecordOnWriter(const RoleVar& pair, int num_forward) {
    for (int i = static_cast<int>(block_.ops.size()) - 1; i >= num_forward; --i) {
      Op& op = block_.ops[i];
      for (const std::string& out : op.OutputVars()) {
        if (out != pair.grad) continue;
        op.role_vars.push_back(pair);
        return;
      }
    }
  }

  bool IsTrainableCandidate(const Var& v) const {
    return v.Has(kVarParameter) && IsFloatingPoint(v.dtype) && !stop_.count(v.name);
  }

  bool Differentiable(const std::string& name) const {
    const Var* v = block_.FindVar(name);
    return v != nullptr && IsFloatingPoint(v->dtype) && !stop_.count(name);
  }

  // Forward: vars that depend on a trainable parameter through float vars.
  void MarkRequiresGrad() {
    for (const Var& v : block_.vars()) {
      if (IsTrainableCandidate(v)) requires_grad_.insert(v.name);
    }
    for (const Op& op : block_.ops) {
      bool any = false;
      for (const std::string& in : op.InputVars()) any = any || requires_grad_.count(in) > 0;
      if (!any) continue;
      for (const std::string& out : op.OutputVars()) {
        if (Differentiable(out)) requires_grad_.insert(out);
      }
    }
  }

  // Backward: vars the loss depends on.
  void MarkReachesLoss(const std::string& loss, int num_forward) {
    reaches_loss_.insert(loss);
    for (int i = num_forward - 1; i >= 0; --i) {
      const Op& op = block_.ops[i];
      bool any = false;
      for (const std::string& out : op.OutputVars()) any = any || reaches_loss_.count(out) > 0;
      if (!any) continue;
      for (const std::string& in : op.InputVars()) reaches_loss_.insert(in);
    }
  }

  bool OnPath(const Op& op) const {
    bool in = false;
    for (const std::string& v : op.InputVars()) in = in || needs_grad_.count(v) > 0;
    bool out = false;
    for (const std::string& v : op.OutputVars()) out = out || needs_grad_.count(v) > 0;
    return in && out;
  }

  // How many gradient parts each var will receive (one per reading position on the path).
  void CountContributions(int num_forward) {
    for (int i = 0; i < num_forward; ++i) {
      const Op& op = block_.ops[i];
      if (!OnPath(op)) continue;
      for (const std::string& in : op.InputVars()) {
        if (needs_grad_.count(in)) ++expected_parts_[in];
      }
    }
  }

  // Declares the var for one gradient part of `var`.
  std::string NewPart(const std::string& var, VarKind kind) {
    std::vector<std::string>& parts = parts_[var];
    std::string name = expected_parts_[var] <= 1 && parts.empty()
                           ? GradVarName(var)
                           : absl::StrCat(GradVarName(var), "@RENAME@", parts.size());
    name = FreshVarName(block_, name);
    Var g;
    g.name = name;
    if (const Var* fwd = block_.FindVar(var)) {
      g.dtype = fwd->dtype;
      g.shape = fwd->shape;
    }
    g.kind = kind;
    block_.AddVar(std::move(g));
    parts.push_back(name);
    return name;
  }

  // Makes "<var>@GRAD" the sum of the parts received so far (once).
  void FinishGrad(const std::string& var) {
    if (grads_.count(var)) return;
    auto it = parts_.find(var);
    if (it == parts_.end() || it->second.empty()) return;
    const std::vector<std::string>& parts = it->second;
    const bool is_param = IsTrainableCandidate(*block_.FindVar(var));
    if (parts.size() == 1 && (parts[0] == GradVarName(var) || !is_param)) {
      grads_[var] = parts[0];
      return;
    }
    // Several parts are added; a parameter's single part under another name (a rule skipped
    // one of its reads) is copied, so its gradient is always "<param>@GRAD".
    bool all_sparse = true;
    for (const std::string& p : parts) {
      all_sparse = all_sparse && block_.FindVar(p)->kind == VarKind::kSparseRows;
    }
    Var sum = *block_.FindVar(parts[0]);
    sum.name = FreshVarName(block_, GradVarName(var));
    sum.kind = all_sparse ? VarKind::kSparseRows : VarKind::kDense;
    block_.AddVar(sum);
    Op op;
    op.type = parts.size() == 1 ? "Identity" : "fleet.grad_sum";
    op.inputs = {{parts.size() == 1 ? "input" : "X", parts}};
    op.outputs = {{parts.size() == 1 ? "output" : "Out", {sum.name}}};
    op.role = kRoleBackward;
    block_.ops.push_back(std::move(op));
    grads_[var] = sum.name;
  }

  Block& block_;
  const std::set<std::string>& stop_;
  std::set<std::string> requires_grad_;
  std::set<std::string> reaches_loss_;
  std::set<std::string> needs_grad_;
  std::map<std::string, int> expected_parts_;
  std::map<std::string, std::vector<std::string>> parts_;
  std::map<std::string, std::string> grads_;  // var -> its full gradient
};

// Gives the forward role to the ops of the forward part: the first `num_forward` ops of block
// 0 and the sub-blocks (bodies of forward ops), where they have no role or only the loss role.
void MarkForward(Program& program, size_t num_forward) {
  for (Block& block : program.blocks) {
    const size_t end = block.index() == 0 ? num_forward : block.ops.size();
    for (size_t i = 0; i < end; ++i) {
      Op& op = block.ops[i];
      if (HasNoRole(op) || HasOnlyRole(op, kRoleLoss)) AddRole(op, kRoleForward);
    }
  }
}

class AutodiffPass final : public Pass {
 public:
  std::string_view name() const override { return "autodiff"; }
  std::string_view description() const override {
    return "append backward ops: gradients of the loss for every trainable parameter";
  }

  // A whole-program pass on the main block, where training happens: it overrides Run, so it
  // does not visit sub-blocks.
  absl::StatusOr<bool> Run(Program& program, PassContext& ctx) override {
    Block& block = program.main();
    for (const Op& op : block.ops) {
      if (HasRole(op, kRoleBackward) || HasRole(op, kRoleOptimize)) {
        return absl::FailedPreconditionError(absl::StrCat(
            op.Describe(), " already is a backward or optimizer op; autodiff runs once"));
      }
    }
    FLEET_RETURN_IF_ERROR(RewriteForTraining(program, ctx));
    std::set<std::string> stop;
    if (const proto::DistributedStrategy* s = ctx.strategy()) {
      for (const std::string& v : s->training().stop_gradient()) {
        if (block.FindVar(v) == nullptr) {
          return absl::InvalidArgumentError(
              absl::StrCat("stop_gradient names '", v, "', which is not a var of the program"));
        }
        stop.insert(v);
      }
    }
    FLEET_ASSIGN_OR_RETURN(std::string loss, FindLoss(block));
    Autodiff autodiff(block, stop);
    const size_t num_forward = block.ops.size();
    FLEET_ASSIGN_OR_RETURN(std::vector<RoleVar> trained, autodiff.Run(loss));
    MarkForward(program, num_forward);
    program.meta.training.loss = loss;
    ctx.Note(absl::StrCat("gradients of '", loss, "' for ", trained.size(), " parameters"));
    return true;
  }
};

}  // namespace

std::unique_ptr<Pass> CreateAutodiffPass() { return std::make_unique<AutodiffPass>(); }

}  // namespace fleet
