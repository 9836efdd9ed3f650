// The analysis of the ps-split pass (ps_plan.h): tables, dense blocks and the update rule of a
// single-machine training job.
#include "passes/distributed/ps_plan.h"

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "ir/op_schema.h"
#include "ir/ps_row_init.h"
#include "ir/status_macros.h"
#include "passes/distributed/buckets.h"
#include "passes/strategy.h"

namespace fleet::distributed {
namespace {

constexpr char kPass[] = "pass 'ps-split'";

// The single var of slot `slot` of `slots`, or "" when the slot is absent or holds several.
std::string OnlyVar(const std::vector<Slot>& slots, std::string_view slot) {
  for (const Slot& s : slots) {
    if (s.name == slot) return s.vars.size() == 1 ? s.vars[0] : std::string();
  }
  return "";
}

bool Mentions(const std::vector<Slot>& slots, const std::string& var) {
  for (const Slot& s : slots) {
    for (const std::string& v : s.vars) {
      if (v == var) return true;
    }
  }
  return false;
}

// The axis of a Gather, made non-negative for data of `rank` dims (ONNX's default is 0).
int64_t GatherAxis(const Op& gather, size_t rank) {
  auto it = gather.attrs.find("axis");
  int64_t axis = it != gather.attrs.end() && std::holds_alternative<int64_t>(it->second)
                     ? std::get<int64_t>(it->second)
                     : 0;
  return axis < 0 ? axis + static_cast<int64_t>(rank) : axis;
}

// Why `param` (with a sparse final gradient) is not a table, or "" when it is one; its lookups
// are appended to `lookups` (their gradients matched through gather_grad_sparse's Indices).
std::string NotATable(const Program& main, const Var& param, size_t update_op, size_t table,
                      std::vector<PsLookup>* lookups) {
  if (param.dtype != DataType::kF32) {
    return absl::StrCat("it is ", DataTypeName(param.dtype), "; tables hold f32 rows");
  }
  if (!param.shape || param.shape->size() != 2 || (*param.shape)[1] < 1) {
    return "it is not a matrix [rows, width] with a static width";
  }
  for (size_t b = 1; b < main.blocks.size(); ++b) {
    for (const Op& op : main.blocks[b].ops) {
      if (Mentions(op.inputs, param.name) || Mentions(op.outputs, param.name)) {
        return absl::StrCat(op.Describe(), " in block ", b, " uses it");
      }
    }
  }
  const Block& block = main.main();
  std::vector<PsLookup> found;
  std::vector<std::pair<std::string, std::string>> grads;  // (indices, out grad)
  for (size_t i = 0; i < block.ops.size(); ++i) {
    const Op& op = block.ops[i];
    if (i == update_op || !(Mentions(op.inputs, param.name) || Mentions(op.outputs, param.name))) {
      continue;
    }
    if (op.type == "Gather" && IsForward(op) && OnlyVar(op.inputs, "data") == param.name &&
        !Mentions(op.outputs, param.name) && GatherAxis(op, 2) == 0) {
      const std::string ids = OnlyVar(op.inputs, "indices");
      const std::string out = OnlyVar(op.outputs, "output");
      if (ids.empty() || ids == param.name || out.empty()) {
        return absl::StrCat(op.Describe(), " is not a plain lookup of it");
      }
      found.push_back(PsLookup{table, i, ids, out, ""});
    } else if (op.type == "fleet.gather_grad_sparse" && OnlyVar(op.inputs, "Like") == param.name &&
               !Mentions(op.outputs, param.name)) {
      grads.emplace_back(OnlyVar(op.inputs, "Indices"), OnlyVar(op.inputs, "OutGrad"));
    } else {
      return absl::StrCat(op.Describe(), " uses it other than as a Gather on axis 0");
    }
  }
  if (found.empty()) return "no Gather reads it";
  // Lookups with the same ids add the same rows, so any pairing of those is the same push.
  for (const auto& [ids, out_grad] : grads) {
    bool matched = false;
    for (PsLookup& l : found) {
      if (!matched && l.ids == ids && l.out_grad.empty()) {
        l.out_grad = out_grad;
        matched = true;
      }
    }
    if (!matched || out_grad.empty()) {
      return absl::StrCat("its gradient reads ids '", ids, "', which no lookup of it matches");
    }
  }
  for (PsLookup& l : found) lookups->push_back(std::move(l));
  return "";
}

// The value an op of the startup program fills `var` with, and that op; nullptr when none.
const Op* FillOf(const Program& startup, const std::string& var) {
  for (const Op& op : startup.main().ops) {
    if (op.type == "fleet.fill_constant" && OnlyVar(op.outputs, "Out") == var) return &op;
  }
  return nullptr;
}

float FillValue(const Op& fill) {
  auto it = fill.attrs.find("value");
  return it != fill.attrs.end() && std::holds_alternative<float>(it->second)
             ? std::get<float>(it->second)
             : 0.0f;
}

// The rule's states from its first update op; each parameter's state vars; rowwise and init.
absl::Status PlanRule(const Program& main, const Program& startup,
                      const std::vector<std::string>& params, const std::vector<const Op*>& updates,
                      PsRule& rule, std::vector<std::vector<std::string>>& states) {
  const Block& block = main.main();
  rule.update = *updates[0];
  for (const Slot& slot : rule.update.inputs) {
    if (slot.name == "Param" || slot.name == "Grad" || slot.name == "LearningRate") continue;
    PsState state;
    state.slot = slot.name;
    state.suffix = absl::AsciiStrToLower(slot.name);
    state.rowwise = true;
    rule.states.push_back(std::move(state));
  }
  states.assign(params.size(), {});
  for (size_t p = 0; p < params.size(); ++p) {
    const Var* param = block.FindVar(params[p]);
    for (size_t k = 0; k < rule.states.size(); ++k) {
      PsState& state = rule.states[k];
      const std::string var = OnlyVar(updates[p]->inputs, state.slot);
      const Var* decl = var.empty() ? nullptr : block.FindVar(var);
      if (decl == nullptr || !decl->shape) {
        return absl::InvalidArgumentError(absl::StrCat(
            updates[p]->Describe(), ": state '", state.slot,
            "' is not one declared var with a static shape; expected one like the optimizer "
            "pass declares"));
      }
      state.rowwise = state.rowwise && decl->shape == param->shape;
      const Op* fill = FillOf(startup, var);
      if (fill == nullptr) {
        return absl::FailedPreconditionError(
            absl::StrCat("the startup program does not fill state '", var,
                         "' (hint: run ps-split after the startup pass)"));
      }
      if (p == 0) {
        state.fill = *fill;
        state.init = FillValue(*fill);
      } else if (FillValue(*fill) != state.init) {
        return absl::InvalidArgumentError(
            absl::StrCat("state '", var, "' starts at ", FillValue(*fill), " and '", states[0][k],
                         "' at ", state.init, "; the servers start every parameter's state alike"));
      }
      states[p].push_back(var);
    }
  }
  return absl::OkStatus();
}

// The first attribute in which `a` and `b` differ, or "" when they agree.
std::string DifferingAttr(const Op& a, const Op& b) {
  for (const auto& [name, value] : a.attrs) {
    auto it = b.attrs.find(name);
    if (it == b.attrs.end() || !(it->second == value)) return name;
  }
  for (const auto& [name, value] : b.attrs) {
    if (!a.attrs.count(name)) return name;
  }
  return "";
}

}  // namespace

absl::StatusOr<PsPlan> PlanPs(Job& job, const proto::PsConfig& config, PassContext& ctx) {
  Program& main = job.main();
  const TrainingFacts& facts = main.meta.training;
  Block& block = main.main();
  if (!main.meta.IsTraining() || facts.step.empty() || facts.learning_rate.empty() ||
      block.FindVar(facts.step) == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat(kPass,
                     " needs a training program with the optimizer's step counter; run it after "
                     "loss, autodiff, optimizer and startup"));
  }
  const Program* startup = job.Find(kStartupProgram);
  if (startup == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat(kPass,
                     " needs the job's startup program (the optimizer state's initial values); "
                     "run it after the startup pass"));
  }
  if (config.servers() < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("the strategy names ", config.servers(),
                     " parameter servers; expected >= 1 (hint: --strategy ps --servers N)"));
  }
  FLEET_RETURN_IF_ERROR(ParseRowInit(config.row_init()).status());
  PsPlan plan;
  plan.mode = SyncModeName(config.sync_mode());
  if (config.geo_k_steps() > 0) plan.geo_k_steps = config.geo_k_steps();
  if (config.dense_pull_every() > 0) plan.dense_pull_every = config.dense_pull_every();
  if (config.has_dense_pull_warmup()) plan.dense_pull_warmup = config.dense_pull_warmup();
  plan.servers = config.servers();
  plan.row_init = config.row_init().empty() ? "zeros" : config.row_init();
  const int64_t min_block =
      config.min_block_size() > 0 ? config.min_block_size() : kDefaultMinBlockSize;

  // Final gradients (autodiff's pairs), update ops (the optimizer's) and the schedule.
  std::map<std::string, std::string> grad_of;
  std::map<std::string, size_t> update_of;
  const Op* schedule = nullptr;
  for (size_t i = 0; i < block.ops.size(); ++i) {
    const Op& op = block.ops[i];
    if (op.type == "fleet.clip_by_global_norm") {
      return absl::InvalidArgumentError(absl::StrCat(
          op.Describe(),
          ": the ps strategy cannot clip by the global norm: each server holds only its own "
          "blocks' gradients (hint: drop --clip-norm)"));
    }
    if (op.type == "fleet.lr_schedule" &&
        OnlyVar(op.outputs, "LearningRate") == facts.learning_rate) {
      schedule = &op;
    }
    const OpSchema* schema = FindOpSchema(op.type);
    const bool update = HasRole(op, kRoleOptimize) && schema != nullptr &&
                        (schema->traits & kTraitOptimizer) != 0 && !op.role_vars.empty();
    for (const RoleVar& pair : op.role_vars) {
      if (HasRole(op, kRoleBackward)) grad_of[pair.param] = pair.grad;
    }
    if (update) update_of[op.role_vars.front().param] = i;
  }
  if (schedule == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat(kPass, " needs the fleet.lr_schedule op that writes '", facts.learning_rate,
                     "'; run it after the optimizer pass"));
  }
  plan.rule.schedule = *schedule;

  // Trainable parameters in declaration order, each with its final gradient and update.
  std::vector<std::string> params;
  std::vector<const Op*> updates;
  for (const Var& v : block.vars()) {
    auto grad = grad_of.find(v.name);
    auto update = update_of.find(v.name);
    if (grad == grad_of.end() && update == update_of.end()) continue;
    if (grad == grad_of.end() || update == update_of.end()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "parameter '", v.name, "' has ",
          grad == grad_of.end() ? "an update but no gradient" : "a gradient but no update",
          "; run it after autodiff and the optimizer pass"));
    }
    const Op& op = block.ops[update->second];
    if (OnlyVar(op.inputs, "Grad") != grad->second ||
        OnlyVar(op.inputs, "LearningRate") != facts.learning_rate) {
      return absl::UnimplementedError(
          absl::StrCat(op.Describe(), " does not read the final gradient '", grad->second,
                       "' and the learning rate '", facts.learning_rate,
                       "' as its rule; the servers cannot run it"));
    }
    params.push_back(v.name);
    updates.push_back(&op);
  }
  if (params.empty()) {
    return absl::FailedPreconditionError(
        "no backward op records a (parameter, gradient) pair; run ps-split after autodiff");
  }
  for (size_t p = 1; p < updates.size(); ++p) {
    const std::string attr = DifferingAttr(*updates[0], *updates[p]);
    if (updates[p]->type != updates[0]->type || !attr.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          updates[0]->Describe(), " and ", updates[p]->Describe(), " differ in ",
          updates[p]->type != updates[0]->type ? "type" : absl::StrCat("attribute '", attr, "'"),
          "; the servers run one update rule for every parameter"));
    }
  }
  std::vector<std::vector<std::string>> states;
  FLEET_RETURN_IF_ERROR(PlanRule(main, *startup, params, updates, plan.rule, states));

  // Tables: trainable f32 matrices with sparse gradients, read only through Gather.
  std::set<std::string> tables;
  for (size_t p = 0; p < params.size(); ++p) {
    const Var* param = block.FindVar(params[p]);
    const Var* grad = block.FindVar(grad_of[params[p]]);
    if (param->dtype != block.FindVar(params[0])->dtype) {
      return absl::InvalidArgumentError(absl::StrCat(
          "parameters '", params[0], "' and '", params[p], "' differ in dtype (",
          DataTypeName(block.FindVar(params[0])->dtype), ", ", DataTypeName(param->dtype),
          "); the servers run one update rule for every parameter"));
    }
    if (grad == nullptr || grad->kind != VarKind::kSparseRows) continue;
    const std::string why =
        NotATable(main, *param, update_of[params[p]], plan.tables.size(), &plan.lookups);
    if (!why.empty()) {
      ctx.Note(absl::StrCat("'", params[p], "' stays dense, not a table: ", why));
      continue;
    }
    tables.insert(params[p]);
    plan.tables.push_back(PsTable{params[p], (*param->shape)[1],
                                  std::max<int64_t>((*param->shape)[0], 0), states[p]});
  }
  plan.rule.dtype = block.FindVar(params[0])->dtype;
  std::sort(plan.lookups.begin(), plan.lookups.end(),
            [](const PsLookup& a, const PsLookup& b) { return a.op < b.op; });
  DensifyEmbeddingGradients(main, tables);

  // Dense parameters: cut into row blocks, each placed by the hash of its name.
  for (size_t p = 0; p < params.size(); ++p) {
    if (tables.count(params[p])) continue;
    const Var* param = block.FindVar(params[p]);
    const Var* grad = block.FindVar(grad_of[params[p]]);
    if (grad != nullptr && grad->kind == VarKind::kSparseRows) {
      return absl::UnimplementedError(absl::StrCat(
          "parameter '", params[p],
          "' has a sparse gradient summed over several lookups but is not a table, and such "
          "a gradient cannot be made dense (hint: read an f32 [rows, width] embedding only "
          "through Gather on axis 0)"));
    }
    bool known = param->shape.has_value();
    for (int64_t d : param->shape.value_or(std::vector<int64_t>{})) known = known && d >= 0;
    if (!known) {
      return absl::InvalidArgumentError(
          absl::StrCat("parameter '", params[p],
                       "' has no static shape; expected one to cut it "
                       "into blocks"));
    }
    const size_t index = plan.dense.size();
    plan.dense.push_back(PsDense{params[p], grad_of[params[p]], states[p]});
    const std::vector<RowBlock> rows = CutRows(*param->shape, plan.servers, min_block);
    for (size_t j = 0; j < rows.size(); ++j) {
      const auto in_param = static_cast<int64_t>(j);
      plan.blocks.push_back(PsBlock{static_cast<int64_t>(plan.blocks.size()), index, in_param,
                                    rows[j], BlockServer(params[p], in_param, plan.servers)});
    }
  }
  return plan;
}

}  // namespace fleet::distributed
