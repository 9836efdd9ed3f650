// fuse-optimizer: turns each run of neighbouring optimizer updates of one op type, with the same
// attributes, learning rate and device, into one fleet.multi_update (ir/fleet_ops.cc), so that a
// GPU updates all of those parameters with one kernel launch instead of one per parameter.
//
// Only neighbours fuse, so nothing between them needs reordering. An update joins a run only
// when it is in place (each state names one var in and out, as the optimizer pass writes it),
// its gradient is dense (a sparse_rows var's update stays apart), its parameter has the run's
// dtype, and it shares no var with the run but the learning rate: a GPU runs the fused updates
// at once, so two updates of one state (Adam's beta powers, say) would see each other's old
// values where the separate ones see the new. Runs shorter than `fuse-optimizer.min-ops`
// (default 2) stay as they are.
//
//   (ParamOut: %w) = fleet.sgd(Param: %w, Grad: %gw, LearningRate: %lr) {weight_decay = 0.0}
//   (ParamOut: %b) = fleet.sgd(Param: %b, Grad: %gb, LearningRate: %lr) {weight_decay = 0.0}
//     ==>
//   (ParamOut: [%w, %b], StateOut: []) = fleet.multi_update(Param: [%w, %b], State: [],
//       Grad: [%gw, %gb], LearningRate: %lr) {update = "fleet.sgd", weight_decay = 0.0}
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "ir/multi_update.h"
#include "ir/status_macros.h"
#include "passes/builtin_passes.h"

namespace fleet {
namespace {

// One update op's operands, in the single op's slot order.
struct Update {
  const Op* op = nullptr;
  std::string param, grad, lr;
  std::vector<std::string> states;
  DataType dtype = DataType::kUndefined;  // the parameter's
};

// The vars a run's updates write (parameters, states) and read besides them (gradients).
struct RunVars {
  std::set<std::string> written, read;

  bool Disjoint(const Update& u) const {
    if (written.count(u.grad) > 0 || written.count(u.param) > 0 || read.count(u.param) > 0) {
      return false;
    }
    for (const std::string& state : u.states) {
      if (written.count(state) > 0 || read.count(state) > 0) return false;
    }
    return true;
  }
  void Add(const Update& u) {
    written.insert(u.param);
    written.insert(u.states.begin(), u.states.end());
    read.insert(u.grad);
  }
};

// `op` as an update that may fuse, or nullopt.
std::optional<Update> FusableUpdate(const Program& program, const Block& block, const Op& op) {
  const UpdateLayout* layout = FindUpdateLayout(op.type);
  if (layout == nullptr) return std::nullopt;
  const std::vector<std::string> inputs = op.InputVars();
  const std::vector<std::string> outputs = op.OutputVars();
  if (static_cast<int>(inputs.size()) != layout->num_inputs ||
      outputs.size() != layout->state_inputs.size() + 1) {
    return std::nullopt;
  }
  Update u;
  u.op = &op;
  u.param = inputs[0];
  u.grad = inputs[1];
  u.lr = inputs[layout->lr_input];
  if (outputs[0] != u.param) return std::nullopt;
  for (size_t k = 0; k < layout->state_inputs.size(); ++k) {
    u.states.push_back(inputs[layout->state_inputs[k]]);
    if (outputs[k + 1] != u.states.back()) return std::nullopt;
  }
  const Var* grad = FindVisibleVar(program, block, u.grad);
  const Var* param = FindVisibleVar(program, block, u.param);
  if (grad == nullptr || grad->kind != VarKind::kDense || param == nullptr) return std::nullopt;
  u.dtype = param->dtype;
  return u;
}

// Whether `next` may join the run that starts with `first`.
bool SameRun(const Update& first, const Update& next, const RunVars& vars) {
  return next.op->type == first.op->type && next.op->attrs == first.op->attrs &&
         next.lr == first.lr && next.op->device == first.op->device && next.dtype == first.dtype &&
         vars.Disjoint(next);
}

Op MultiUpdate(const std::vector<Update>& run, int index) {
  const Op& first = *run.front().op;
  Op op;
  op.type = "fleet.multi_update";
  op.name = absl::StrCat("multi_update.", index);
  op.attrs = first.attrs;
  op.attrs["update"] = AttrValue(first.type);
  op.device = first.device;
  Slot params{"Param", {}}, states{"State", {}}, grads{"Grad", {}};
  for (const Update& u : run) {
    params.vars.push_back(u.param);
    states.vars.insert(states.vars.end(), u.states.begin(), u.states.end());
    grads.vars.push_back(u.grad);
    op.role |= u.op->role;
    op.role_vars.insert(op.role_vars.end(), u.op->role_vars.begin(), u.op->role_vars.end());
  }
  op.inputs = {params, states, grads, Slot{"LearningRate", {run.front().lr}}};
  op.outputs = {Slot{"ParamOut", params.vars}, Slot{"StateOut", states.vars}};
  return op;
}

// Fuses the runs of `block`'s updates (a LocalSGD or mixed-precision sub-block holds them
// too), numbering the fused ops from *fused on.
void FuseRuns(const Program& program, Block& block, int64_t min_ops, int* fused) {
  std::vector<Op> ops;
  ops.reserve(block.ops.size());
  size_t i = 0;
  while (i < block.ops.size()) {
    std::optional<Update> first = FusableUpdate(program, block, block.ops[i]);
    std::vector<Update> run;
    RunVars vars;
    if (first) {
      run.push_back(*first);
      vars.Add(*first);
      for (size_t j = i + 1; j < block.ops.size(); ++j) {
        std::optional<Update> next = FusableUpdate(program, block, block.ops[j]);
        if (!next || !SameRun(*first, *next, vars)) break;
        vars.Add(*next);
        run.push_back(*next);
      }
    }
    if (run.size() >= 2 && static_cast<int64_t>(run.size()) >= min_ops) {
      ops.push_back(MultiUpdate(run, (*fused)++));
      i += run.size();
      continue;
    }
    ops.push_back(std::move(block.ops[i]));
    ++i;
  }
  block.ops = std::move(ops);
}

class FuseOptimizerPass final : public Pass {
 public:
  std::string_view name() const override { return "fuse-optimizer"; }
  std::string_view description() const override {
    return "fuses runs of neighbouring optimizer updates into fleet.multi_update";
  }

  absl::StatusOr<bool> Run(Program& program, PassContext& ctx) override {
    FLEET_ASSIGN_OR_RETURN(const int64_t min_ops, ctx.GetInt("fuse-optimizer.min-ops", 2));
    if (min_ops < 1) {
      return absl::InvalidArgumentError(absl::StrCat("pass option 'fuse-optimizer.min-ops' is ",
                                                     min_ops, "; expected at least 1"));
    }
    int fused = 0;
    for (Block& block : program.blocks) FuseRuns(program, block, min_ops, &fused);
    return fused > 0;
  }
};

}  // namespace

std::unique_ptr<Pass> CreateFuseOptimizerPass() { return std::make_unique<FuseOptimizerPass>(); }

}  // namespace fleet
