// The server programs of the ps strategy (ps_plan.h): for server i, "pserver.i" holds its dense
// blocks with their optimizer state, every table, and one fleet.ps_serve op whose sub-block is
// the update rule; "pserver.i.startup" fills the state.
//
//   block 0 {
//     var %fc.w.block1 : f32[200,64] persistable parameter init   # rows 200..399 of fc.w
//     var %fc.w.block1.moment1 : f32[200,64] persistable          # rowwise: sliced like it
//     var %fc.w.block1.beta1pow : f32[1] persistable              # whole
//     var %emb : f32[1000,8] persistable parameter init           # a table, any server
//     var %emb.beta1pow : f32[1] persistable                      # its whole states only
//     (ParamsOut: %fc.w.block1, StatesOut: [...], TableStatesOut: [...]) = fleet.ps_serve(
//         Params: %fc.w.block1, States: [...], Tables: %emb, TableStates: [...])
//         {update = ^1, block_id = [1], table_id = [0], table_dim = [8], ...} role=rpc
//   }
//   block 1 parent 0 {     # feeds step, param, grad, states; fetches param, states
//     (LearningRate: %learning_rate) = fleet.lr_schedule(Step: %step) {...}
//     (ParamOut: %param, Moment1Out: %moment1, ...) = fleet.adam(Param: %param, Grad: %grad,
//         LearningRate: %learning_rate, Moment1: %moment1, ...) {...}
//   }
//
// The update block's vars have no shape: blocks of any rank and the rows of tables share it.
#include <iterator>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "ir/status_macros.h"
#include "passes/distributed/ps_plan.h"

namespace fleet::distributed {
namespace {

absl::Status Declare(Block& block, Var var) {
  const std::string name = var.name;
  if (!block.AddVar(std::move(var))) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the server program would declare '", name,
        "' twice; a parameter of the model is already named like a block or state of another"));
  }
  return absl::OkStatus();
}

Var MakeVar(std::string name, DataType dtype, std::optional<std::vector<int64_t>> shape,
            uint32_t flags) {
  Var v;
  v.name = std::move(name);
  v.dtype = dtype;
  v.shape = std::move(shape);
  v.flags = flags;
  return v;
}

// Rows [begin, begin + rows) of `value`, shaped `shape`. A value without bytes (what the text
// form parses an initializer's elided data into) gives a value without bytes as well.
absl::StatusOr<TensorValue> SliceRows(const TensorValue& value, const std::string& param,
                                      const RowBlock& rows, const std::vector<int64_t>& shape) {
  TensorValue out;
  out.dtype = value.dtype;
  out.shape = shape;
  if (value.bytes.empty()) return out;
  const int64_t elements = value.NumElements();
  const auto element = static_cast<int64_t>(DataTypeSize(value.dtype));
  if (elements * element != static_cast<int64_t>(value.bytes.size())) {
    return absl::InvalidArgumentError(absl::StrCat("the initial value of '", param, "' holds ",
                                                   value.bytes.size(), " bytes; expected ",
                                                   elements * element));
  }
  const int64_t dim0 = value.shape.empty() ? 1 : value.shape[0];
  const int64_t row = dim0 == 0 ? 0 : elements * element / dim0;
  out.bytes = value.bytes.substr(static_cast<size_t>(rows.begin * row),
                                 static_cast<size_t>(rows.rows * row));
  return out;
}

// The fill of `var` shaped `shape`: a copy of the single-machine startup's fill of the state.
Op FillOp(const PsState& state, const std::string& var, const std::vector<int64_t>& shape) {
  Op fill = state.fill;
  fill.outputs = {{"Out", {var}}};
  fill.attrs["shape"] = AttrValue(shape);
  fill.role_vars.clear();
  return fill;
}

// Block 1: the update rule on feed vars step, param, grad and the states.
absl::Status AddUpdateBlock(Program& server, const Program& main, const PsPlan& plan) {
  const int index = server.AddBlock(0);
  Block& block = server.blocks[static_cast<size_t>(index)];
  const TrainingFacts& facts = main.meta.training;
  const DataType dtype = plan.rule.dtype;
  FLEET_RETURN_IF_ERROR(
      Declare(block, MakeVar("step", DataType::kI64, std::vector<int64_t>{1}, kVarFeed)));
  FLEET_RETURN_IF_ERROR(
      Declare(block, MakeVar("param", dtype, std::nullopt, kVarFeed | kVarFetch)));
  FLEET_RETURN_IF_ERROR(Declare(block, MakeVar("grad", dtype, std::nullopt, kVarFeed)));
  // What the rule's ops read and write in the trainer, renamed to the block's vars.
  std::map<std::string, std::string> rename = {{facts.step, "step"},
                                               {facts.learning_rate, "learning_rate"}};
  const std::string& param = plan.rule.update.role_vars.front().param;
  rename[param] = "param";
  rename[plan.rule.update.role_vars.front().grad] = "grad";
  for (const PsState& state : plan.rule.states) {
    for (const Slot& slot : plan.rule.update.inputs) {
      if (slot.name == state.slot) rename[slot.vars[0]] = state.suffix;
    }
    const Var* decl = main.main().FindVar(state.fill.outputs[0].vars[0]);
    FLEET_RETURN_IF_ERROR(
        Declare(block, MakeVar(state.suffix, decl->dtype, std::nullopt, kVarFeed | kVarFetch)));
  }
  const bool scheduled = !plan.rule.schedule.type.empty();  // geo's rule adds, with no rate
  if (scheduled) {
    FLEET_RETURN_IF_ERROR(
        Declare(block, MakeVar("learning_rate", DataType::kF32, std::vector<int64_t>{1}, 0)));
  }
  for (Op op : {plan.rule.schedule, plan.rule.update}) {
    if (op.type.empty()) continue;
    for (std::vector<Slot>* slots : {&op.inputs, &op.outputs}) {
      for (Slot& slot : *slots) {
        for (std::string& var : slot.vars) {
          auto it = rename.find(var);
          if (it == rename.end()) {
            return absl::UnimplementedError(absl::StrCat(
                op.Describe(), " uses '", var,
                "', which is neither the step, the learning rate, the parameter, its gradient "
                "nor its state; the servers cannot run it"));
          }
          var = it->second;
        }
      }
    }
    op.role_vars.clear();
    if (HasRole(op, kRoleOptimize)) {
      op.name = "update";
      AddRoleVar(op, "param", "grad");
    }
    block.ops.push_back(std::move(op));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status BuildPsServers(Job& job, const PsPlan& plan) {
  const Program& main = job.main();
  const Block& trainer = main.main();
  for (auto it = job.programs.begin(); it != job.programs.end();) {
    const bool server = it->first.rfind(kServerProgramPrefix, 0) == 0;
    it = server ? job.programs.erase(it) : std::next(it);
  }
  for (int64_t s = 0; s < plan.servers; ++s) {
    Program server;
    server.meta.opset = main.meta.opset;
    server.meta.producer = main.meta.producer;
    server.meta.strategy = "ps";
    server.meta.role = "pserver";
    server.meta.training.optimizer = plan.rule.update.type;
    Program startup;
    startup.meta.opset = main.meta.opset;
    startup.meta.producer = main.meta.producer;
    startup.meta.strategy = "ps";
    startup.meta.role = "startup";
    FLEET_RETURN_IF_ERROR(AddUpdateBlock(server, main, plan));
    Block& block = server.main();  // after AddBlock, which may move the blocks
    Op serve;
    serve.type = "fleet.ps_serve";
    serve.name = "ps_serve";
    serve.role = kRoleRpc;
    std::vector<std::string> params, states, tables, table_states;
    std::vector<int64_t> block_ids, table_ids, table_dims, rowwise;
    std::vector<float> inits;
    // A state var on this server, declared here and filled by its startup program.
    auto add_state = [&](const PsState& state, const std::string& name,
                         const std::vector<int64_t>& shape, DataType dtype) -> absl::Status {
      FLEET_RETURN_IF_ERROR(Declare(block, MakeVar(name, dtype, shape, kVarPersistable)));
      FLEET_RETURN_IF_ERROR(Declare(startup.main(), MakeVar(name, dtype, shape, kVarPersistable)));
      startup.main().ops.push_back(FillOp(state, name, shape));
      return absl::OkStatus();
    };
    for (const PsBlock& b : plan.blocks) {
      if (b.server != s) continue;
      const PsDense& dense = plan.dense[b.param];
      const Var* param = trainer.FindVar(dense.param);
      std::vector<int64_t> shape = *param->shape;
      if (shape.empty()) shape.push_back(1);
      shape[0] = b.rows.rows;
      const std::string name = absl::StrCat(dense.param, ".block", b.index);
      FLEET_RETURN_IF_ERROR(
          Declare(block, MakeVar(name, param->dtype, shape, kVarPersistable | kVarParameter)));
      auto value = main.values.find(dense.param);
      if (value != main.values.end()) {
        FLEET_ASSIGN_OR_RETURN(server.values[name],
                               SliceRows(value->second, dense.param, b.rows, shape));
      }
      params.push_back(name);
      block_ids.push_back(b.id);
      for (size_t k = 0; k < plan.rule.states.size(); ++k) {
        const PsState& state = plan.rule.states[k];
        const Var* decl = trainer.FindVar(dense.states[k]);
        const std::string var = absl::StrCat(name, ".", state.suffix);
        FLEET_RETURN_IF_ERROR(
            add_state(state, var, state.rowwise ? shape : *decl->shape, decl->dtype));
        states.push_back(var);
      }
    }
    for (size_t t = 0; t < plan.tables.size(); ++t) {
      const PsTable& table = plan.tables[t];
      Var var = *trainer.FindVar(table.param);
      var.flags = kVarPersistable | kVarParameter;
      FLEET_RETURN_IF_ERROR(Declare(block, var));
      auto value = main.values.find(table.param);
      if (value != main.values.end()) server.values[table.param] = value->second;
      tables.push_back(table.param);
      table_ids.push_back(static_cast<int64_t>(t));
      table_dims.push_back(table.width);
      for (size_t k = 0; k < plan.rule.states.size(); ++k) {
        const PsState& state = plan.rule.states[k];
        if (state.rowwise) continue;
        const Var* decl = trainer.FindVar(table.states[k]);
        const std::string name = absl::StrCat(table.param, ".", state.suffix);
        FLEET_RETURN_IF_ERROR(add_state(state, name, *decl->shape, decl->dtype));
        table_states.push_back(name);
      }
    }
    for (const PsState& state : plan.rule.states) {
      rowwise.push_back(state.rowwise ? 1 : 0);
      inits.push_back(state.init);
    }
    serve.inputs = {
        {"Params", params}, {"States", states}, {"Tables", tables}, {"TableStates", table_states}};
    serve.outputs = {
        {"ParamsOut", params}, {"StatesOut", states}, {"TableStatesOut", table_states}};
    serve.attrs["update"] = AttrValue(BlockRef{1});
    serve.attrs["block_id"] = AttrValue(block_ids);
    serve.attrs["table_id"] = AttrValue(table_ids);
    serve.attrs["table_dim"] = AttrValue(table_dims);
    serve.attrs["state_rowwise"] = AttrValue(rowwise);
    serve.attrs["state_init"] = AttrValue(inits);
    serve.attrs["row_init"] = AttrValue(plan.row_init);
    serve.attrs["mode"] = AttrValue(plan.mode);
    block.ops.push_back(std::move(serve));
    const std::string name = ServerProgramName(static_cast<int>(s));
    job.programs[StartupProgramNameOf(name)] = std::move(startup);
    job.programs[name] = std::move(server);
  }
  return absl::OkStatus();
}

}  // namespace fleet::distributed
