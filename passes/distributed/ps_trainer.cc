// The trainer programs of the ps strategy (ps_plan.h). In main, the tables' Gathers become one
// fleet.ps_pull_sparse where the first of them was; the update ops go to the servers; after
// the last backward op the gradients are pushed and the dense parameters pulled back:
//
//   (Out: [%emb_a, %emb_b]) = fleet.ps_pull_sparse(Ids: [%a, %b]) {table_dim = [8, 8],
//       table_id = [0, 0], table_rows = [1000, 1000]} role=forward|rpc
//   ... forward, backward ...
//   fleet.ps_push(Step: %global_step, Dense: [%"w@GRAD"], SparseIds: [%a, %b],
//       SparseGrad: [%"emb_a@GRAD", %"emb_b@GRAD"]) {block_id = [0, 1], ..., mode = "sync"}
//       role=rpc vars=[(%w, %"w@GRAD")]
//   (Out: %w) = fleet.ps_pull_dense(Step: %global_step) {block_id = [0, 1], ...} role=rpc
//   (LearningRate: %learning_rate) = fleet.lr_schedule(Step: %global_step) {...}
//   (Out: %global_step) = fleet.increment(X: %global_step)
//
// The tables, their initial values and gradient ops (dead once nothing updates the tables;
// the dce pass removes them) and every optimizer state var leave the trainer. The startup
// program keeps the step and learning-rate fills, drops the state fills, declares the dense
// parameters and pulls them from the servers: (Out: [%w]) = fleet.ps_pull_dense() {...}.
#include <algorithm>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "ir/status_macros.h"
#include "passes/builtin_passes.h"
#include "passes/distributed/ps_plan.h"

namespace fleet::distributed {

void SetBlockAttrs(const PsPlan& plan, Op& op) {
  std::vector<int64_t> id, param, begin, rows, server;
  for (const PsBlock& b : plan.blocks) {
    id.push_back(b.id);
    param.push_back(static_cast<int64_t>(b.param));
    begin.push_back(b.rows.begin);
    rows.push_back(b.rows.rows);
    server.push_back(b.server);
  }
  op.attrs["block_id"] = AttrValue(id);
  op.attrs["block_param"] = AttrValue(param);
  op.attrs["block_begin"] = AttrValue(begin);
  op.attrs["block_rows"] = AttrValue(rows);
  op.attrs["block_server"] = AttrValue(server);
  op.attrs["mode"] = AttrValue(plan.mode);
}

namespace {

std::vector<std::string> DenseParams(const PsPlan& plan) {
  std::vector<std::string> params;
  for (const PsDense& d : plan.dense) params.push_back(d.param);
  return params;
}

// fleet.ps_pull_dense of every dense parameter; after step `step` (main), or, with no step, as
// soon as the servers are up (startup).
Op PullDense(const PsPlan& plan, const std::string& step) {
  Op op;
  op.type = "fleet.ps_pull_dense";
  op.name = "ps_pull_dense";
  if (!step.empty()) op.inputs = {{"Step", {step}}};
  op.outputs = {{"Out", DenseParams(plan)}};
  SetBlockAttrs(plan, op);
  if (!step.empty() && plan.dense_pull_every > 1) {
    op.attrs["pull_every"] = AttrValue(plan.dense_pull_every);
    if (plan.dense_pull_warmup >= 0) op.attrs["pull_warmup"] = AttrValue(plan.dense_pull_warmup);
  }
  op.role = kRoleRpc;
  if (!step.empty()) {
    for (const PsDense& d : plan.dense) AddRoleVar(op, d.param, d.grad);
  }
  return op;
}

Op Push(const PsPlan& plan, const std::string& step) {
  Op op;
  op.type = "fleet.ps_push";
  op.name = "ps_push";
  std::vector<std::string> grads, ids, sparse_grads;
  std::vector<int64_t> tables;
  for (const PsDense& d : plan.dense) {
    grads.push_back(d.grad);
    AddRoleVar(op, d.param, d.grad);
  }
  for (const PsLookup& l : plan.lookups) {
    if (l.out_grad.empty()) continue;  // rows that get no gradient
    ids.push_back(l.ids);
    sparse_grads.push_back(l.out_grad);
    tables.push_back(static_cast<int64_t>(l.table));
  }
  op.inputs = {
      {"Step", {step}}, {"Dense", grads}, {"SparseIds", ids}, {"SparseGrad", sparse_grads}};
  SetBlockAttrs(plan, op);
  op.attrs["table_id"] = AttrValue(tables);
  op.role = kRoleRpc;
  return op;
}

bool Reads(const Op& op, const std::string& var) {
  for (const std::string& v : op.InputVars()) {
    if (v == var) return true;
  }
  return false;
}

bool Writes(const Op& op, const std::string& var) {
  for (const std::string& v : op.OutputVars()) {
    if (v == var) return true;
  }
  return false;
}

// Where the one pull of every lookup goes (before op index `at` of `block`): at the first
// Gather, or after the last op that computes ids a later Gather reads. UNIMPLEMENTED when
// some looked-up rows are used before another lookup's ids exist.
absl::StatusOr<size_t> PullPosition(const Block& block, const PsPlan& plan) {
  size_t at = plan.lookups.front().op;
  size_t latest = block.ops.size();
  std::string first_use;
  for (const PsLookup& l : plan.lookups) {
    for (size_t i = 0; i < l.op; ++i) {
      if (Writes(block.ops[i], l.ids)) at = std::max(at, i + 1);
    }
    for (size_t i = l.op + 1; i < block.ops.size(); ++i) {
      if (!Reads(block.ops[i], l.out)) continue;
      if (i < latest) {
        latest = i;
        first_use = block.ops[i].Describe();
      }
      break;
    }
  }
  if (at > latest) {
    return absl::UnimplementedError(absl::StrCat(
        first_use,
        " reads looked-up rows before the ids of a later lookup are computed; one "
        "fleet.ps_pull_sparse cannot serve both (hint: compute every id before the first "
        "lookup)"));
  }
  return at;
}

// The startup program: no optimizer state (it lives on the servers), the dense parameters
// pulled from the servers.
void RewriteStartup(Program& startup, const Block& trainer, const PsPlan& plan,
                    const std::set<std::string>& moved) {
  Block& block = startup.main();
  std::vector<Op> kept;
  for (Op& op : block.ops) {
    bool fills_moved = false;
    for (const std::string& out : op.OutputVars()) fills_moved |= moved.count(out) > 0;
    if (!fills_moved) kept.push_back(std::move(op));
  }
  block.ops = std::move(kept);
  for (const std::string& var : moved) block.RemoveVar(var);
  for (const PsDense& d : plan.dense) {
    if (block.FindVar(d.param) != nullptr) continue;
    Var decl = *trainer.FindVar(d.param);
    decl.flags = kVarPersistable | kVarParameter;
    block.AddVar(std::move(decl));
  }
  block.ops.push_back(PullDense(plan, ""));
  startup.meta.strategy = "ps";
}

}  // namespace

absl::Status BuildPsTrainer(Job& job, const PsPlan& plan) {
  Program& main = job.main();
  Block& block = main.main();
  const std::string step = main.meta.training.step;
  std::set<size_t> gathers;
  std::optional<Op> pull;
  size_t at = 0;
  if (!plan.lookups.empty()) {
    FLEET_ASSIGN_OR_RETURN(at, PullPosition(block, plan));
    Op op;
    op.type = "fleet.ps_pull_sparse";
    op.name = "ps_pull_sparse";
    std::vector<std::string> ids, outs;
    std::vector<int64_t> tables, widths, heights;
    for (const PsLookup& l : plan.lookups) {
      gathers.insert(l.op);
      ids.push_back(l.ids);
      outs.push_back(l.out);
      tables.push_back(static_cast<int64_t>(l.table));
      widths.push_back(plan.tables[l.table].width);
      heights.push_back(plan.tables[l.table].rows);
    }
    op.inputs = {{"Ids", ids}};
    op.outputs = {{"Out", outs}};
    op.attrs["table_id"] = AttrValue(tables);
    op.attrs["table_dim"] = AttrValue(widths);
    op.attrs["table_rows"] = AttrValue(heights);
    op.role = kRoleForward | kRoleRpc;
    pull = std::move(op);
  }
  std::vector<Op> kept;
  for (size_t i = 0; i < block.ops.size(); ++i) {
    if (pull && i == at) kept.push_back(*pull);
    if (gathers.count(i) || HasRole(block.ops[i], kRoleOptimize)) continue;
    kept.push_back(std::move(block.ops[i]));
  }
  if (pull && at == block.ops.size()) kept.push_back(*pull);
  size_t after_backward = 0;
  for (size_t i = 0; i < kept.size(); ++i) {
    if (HasRole(kept[i], kRoleBackward)) after_backward = i + 1;
  }
  const std::vector<Op> exchange = {Push(plan, step), PullDense(plan, step)};
  kept.insert(kept.begin() + static_cast<std::ptrdiff_t>(after_backward), exchange.begin(),
              exchange.end());
  block.ops = std::move(kept);

  // Nothing updates the tables now: their gradient ops are dead.
  PassContext dce_context;
  FLEET_RETURN_IF_ERROR(CreateDcePass()->Run(main, dce_context).status());
  std::set<std::string> moved;
  for (const PsTable& t : plan.tables) {
    moved.insert(t.states.begin(), t.states.end());
    for (const Op& op : block.ops) {
      if (Reads(op, t.param) || Writes(op, t.param)) {
        return absl::InternalError(
            absl::StrCat(op.Describe(), " still uses table '", t.param, "' after the split"));
      }
    }
    block.RemoveVar(t.param);
    main.values.erase(t.param);
  }
  for (const PsDense& d : plan.dense) moved.insert(d.states.begin(), d.states.end());
  for (const std::string& var : moved) {
    block.RemoveVar(var);
    main.values.erase(var);
  }
  main.meta.strategy = "ps";
  main.meta.role = "trainer";
  Program* startup = job.Find(kStartupProgram);
  FLEET_RET_CHECK(startup != nullptr);
  RewriteStartup(*startup, block, plan, moved);
  return absl::OkStatus();
}

}  // namespace fleet::distributed
