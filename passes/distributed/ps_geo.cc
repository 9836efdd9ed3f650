// Geo mode of ps-split (Paddle's GEO-SGD): each trainer keeps its whole single-machine program
// (forward, backward and its own optimizer on its own copies of every parameter) and, every k
// steps, exchanges what changed with the servers, which only add up the changes.
//
//   main      ... unchanged ...; before the step count:
//             (ParamsOut: [%w, %table], BasesOut: [%"w@GEO_BASE", %"table@GEO_BASE"]) =
//                 fleet.ps_geo_sync(Step: %global_step, Params: [%w, %table],
//                                   Bases: [%"w@GEO_BASE", %"table@GEO_BASE"], Ids: [%ids])
//                 {k_steps = 100, table_id = [0], lookup_table = [0], block ...} role=rpc
//   startup   ... unchanged ...; then each base starts as a copy of its parameter (fleet.memcpy)
//   pserver.<i>  as in the other modes, with the rule param <- param + grad (GeoServerRule)
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "ir/status_macros.h"
#include "passes/distributed/ps_plan.h"

namespace fleet::distributed {
namespace {

std::string BaseOf(const std::string& param) { return param + "@GEO_BASE"; }

// Declares `name` in `block` like `like`, persistable, unless it is there.
void DeclareLike(Block& block, const Var& like, const std::string& name) {
  if (block.FindVar(name) != nullptr) return;
  Var var = like;
  var.name = name;
  var.flags = kVarPersistable;
  block.AddVar(std::move(var));
}

}  // namespace

PsRule GeoServerRule(const PsRule& rule) {
  PsRule add;
  add.dtype = rule.dtype;
  const RoleVar& pair = rule.update.role_vars.front();
  add.update.type = "Add";
  add.update.name = "update";
  add.update.inputs = {{"A", {pair.param}}, {"B", {pair.grad}}};
  add.update.outputs = {{"C", {pair.param}}};
  add.update.role = kRoleOptimize;
  AddRoleVar(add.update, pair.param, pair.grad);
  return add;  // no schedule and no state: the servers only add
}

absl::Status BuildGeoTrainer(Job& job, const PsPlan& plan) {
  Program& main = job.main();
  Block& block = main.main();
  const std::string& step = main.meta.training.step;
  std::vector<std::string> params, bases, ids;
  std::vector<int64_t> tables, lookup_table;
  for (const PsDense& d : plan.dense) params.push_back(d.param);
  for (size_t t = 0; t < plan.tables.size(); ++t) {
    params.push_back(plan.tables[t].param);
    tables.push_back(static_cast<int64_t>(t));
  }
  for (const PsLookup& l : plan.lookups) {
    ids.push_back(l.ids);
    lookup_table.push_back(static_cast<int64_t>(l.table));
  }
  for (const std::string& p : params) {
    const Var* var = block.FindVar(p);
    if (var == nullptr) {
      return absl::InternalError(absl::StrCat("geo: parameter '", p, "' is not declared"));
    }
    DeclareLike(block, *var, BaseOf(p));
    bases.push_back(BaseOf(p));
  }
  Op sync;
  sync.type = "fleet.ps_geo_sync";
  sync.name = "ps_geo_sync";
  sync.inputs = {{"Step", {step}}, {"Params", params}, {"Bases", bases}, {"Ids", ids}};
  sync.outputs = {{"ParamsOut", params}, {"BasesOut", bases}};
  SetBlockAttrs(plan, sync);
  sync.attrs["table_id"] = AttrValue(tables);
  sync.attrs["lookup_table"] = AttrValue(lookup_table);
  sync.attrs["k_steps"] = AttrValue(plan.geo_k_steps);
  sync.role = kRoleRpc;
  // Before the step count, so Step is this step's number, as the other modes' pushes see it.
  size_t at = block.ops.size();
  for (size_t i = 0; i < block.ops.size(); ++i) {
    const Op& op = block.ops[i];
    if (op.type == "fleet.increment" && !op.outputs.empty() && !op.outputs[0].vars.empty() &&
        op.outputs[0].vars[0] == step) {
      at = i;
    }
  }
  block.ops.insert(block.ops.begin() + static_cast<std::ptrdiff_t>(at), std::move(sync));
  main.meta.strategy = "ps";
  main.meta.role = "trainer";

  Program* startup = job.Find(kStartupProgram);
  if (startup == nullptr) return absl::InternalError("geo: the job has no startup program");
  Block& init = startup->main();
  for (const std::string& p : params) {
    const Var& var = *block.FindVar(p);
    if (init.FindVar(p) == nullptr) {
      Var decl = var;
      decl.flags = kVarPersistable | kVarParameter;
      init.AddVar(std::move(decl));
    }
    DeclareLike(init, var, BaseOf(p));
    // A copy, not an Identity (which may share the parameter's buffer, that the optimizer
    // then updates in place).
    Op copy;
    copy.type = "fleet.memcpy";
    copy.name = BaseOf(p);
    copy.inputs = {{"X", {p}}};
    copy.outputs = {{"Out", {BaseOf(p)}}};
    init.ops.push_back(std::move(copy));
  }
  startup->meta.strategy = "ps";
  return absl::OkStatus();
}

}  // namespace fleet::distributed
