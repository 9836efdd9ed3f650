#include "runtime/ps/job_export.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "executor/training/export.h"
#include "ir/status_macros.h"
#include "runtime/ps/job_checkpoint.h"
#include "runtime/ps/shard_checkpoint.h"

namespace fleet::ps {
namespace {

const Op* FindOp(const Block& block, std::string_view type) {
  for (const Op& op : block.ops) {
    if (op.type == type) return &op;
  }
  return nullptr;
}

std::vector<int64_t> IntsOf(const Op& op, const std::string& name) {
  auto it = op.attrs.find(name);
  if (it == op.attrs.end()) return {};
  const auto* ints = std::get_if<std::vector<int64_t>>(&it->second);
  return ints != nullptr ? *ints : std::vector<int64_t>{};
}

const std::vector<std::string>* SlotVars(const std::vector<Slot>& slots, std::string_view name) {
  for (const Slot& slot : slots) {
    if (slot.name == name) return &slot.vars;
  }
  return nullptr;
}

// Every server's shard, by server index.
absl::StatusOr<std::vector<ServerCore::Contents>> ReadShards(const std::string& dir, int servers) {
  std::vector<ServerCore::Contents> shards;
  for (int s = 0; s < servers; ++s) {
    FLEET_ASSIGN_OR_RETURN(ServerCore::Contents shard, ReadShard(ShardFolder(dir, s), s, servers));
    shards.push_back(std::move(shard));
  }
  return shards;
}

// The dense parameters from their blocks, laid out by `pull`'s block attributes; `names[p]` is
// parameter p (block_param's index).
absl::Status RestoreDense(const Op& pull, const std::vector<std::string>& names,
                          const std::vector<ServerCore::Contents>& shards, Scope& state) {
  const std::vector<std::string>* params = &names;
  const std::vector<int64_t> ids = IntsOf(pull, "block_id"), of = IntsOf(pull, "block_param"),
                             begin = IntsOf(pull, "block_begin"), rows = IntsOf(pull, "block_rows");
  if (params == nullptr || of.size() != ids.size() || begin.size() != ids.size() ||
      rows.size() != ids.size()) {
    return absl::InvalidArgumentError(absl::StrCat(pull.Describe(), ": malformed block layout"));
  }
  std::map<int64_t, const Tensor*> saved;
  for (const ServerCore::Contents& shard : shards) {
    for (const ServerCore::BlockContents& block : shard.blocks)
      saved[block.block_id] = &block.value;
  }
  size_t count = 0;  // the dense parameters: geo's names go on with the tables
  for (int64_t p : of) count = std::max(count, static_cast<size_t>(std::max<int64_t>(p, 0)) + 1);
  if (count > params->size()) {
    return absl::InvalidArgumentError(absl::StrCat(pull.Describe(), ": blocks of ", count,
                                                   " parameters but ", params->size(), " named"));
  }
  std::vector<Tensor> out(count);
  for (size_t b = 0; b < ids.size(); ++b) {
    auto it = saved.find(ids[b]);
    if (it == saved.end() || of[b] < 0 || of[b] >= static_cast<int64_t>(count) ||
        it->second->rank() < 1 || it->second->dim(0) != rows[b]) {
      return absl::InvalidArgumentError(
          absl::StrCat("the checkpoint has no block ", ids[b], " of ", rows[b], " rows"));
    }
    Tensor& param = out[of[b]];
    if (!param.defined()) {
      int64_t total = 0;
      for (size_t c = 0; c < ids.size(); ++c) {
        if (of[c] == of[b]) total = std::max(total, begin[c] + rows[c]);
      }
      std::vector<int64_t> shape = it->second->shape();
      shape[0] = total;
      param = Tensor(DataType::kF32, shape);
    }
    const int64_t row = param.numel() / param.dim(0);
    std::memcpy(param.data<float>() + begin[b] * row, it->second->data<float>(),
                it->second->nbytes());
  }
  for (size_t p = 0; p < count; ++p) {
    if (!out[p].defined()) {
      return absl::InvalidArgumentError(absl::StrCat("parameter ", (*params)[p], " has no blocks"));
    }
    state.Set((*params)[p], std::move(out[p]));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<ExportedModel> ExportJobModel(const Job& job, const std::string& dir, Scope& state) {
  const Program* main = job.FindMain();
  const Program* server = job.Find(ServerProgramName(0));
  const Op* serve = server != nullptr ? FindOp(server->main(), "fleet.ps_serve") : nullptr;
  if (main == nullptr || serve == nullptr) {
    return absl::InvalidArgumentError(
        "not a parameter-server job (no main program, or no fleet.ps_serve in pserver.0)");
  }
  int servers = 0;
  while (job.Find(ServerProgramName(servers)) != nullptr) ++servers;
  Program trainer = *main;
  FLEET_RETURN_IF_ERROR(LoadJobCheckpointTrainer(dir, trainer, state).status());
  FLEET_ASSIGN_OR_RETURN(std::vector<ServerCore::Contents> shards, ReadShards(dir, servers));
  Block& block = trainer.main();
  // The dense parameters: the ops that lay out their blocks name them (pull_dense: Out; geo:
  // the first entries of ParamsOut).
  if (const Op* pull = FindOp(block, "fleet.ps_pull_dense")) {
    FLEET_RETURN_IF_ERROR(RestoreDense(*pull, *SlotVars(pull->outputs, "Out"), shards, state));
  } else if (const Op* geo = FindOp(block, "fleet.ps_geo_sync")) {
    FLEET_RETURN_IF_ERROR(RestoreDense(*geo, *SlotVars(geo->outputs, "ParamsOut"), shards, state));
  }
  // Every table as the servers hold it: the model's initial rows, each saved row over its own.
  ExportedModel model;
  std::map<int64_t, std::string> table_var;
  const std::vector<std::string>* tables = SlotVars(serve->inputs, "Tables");
  const std::vector<int64_t> served = IntsOf(*serve, "table_id");
  for (size_t t = 0; tables != nullptr && t < tables->size() && t < served.size(); ++t) {
    table_var[served[t]] = (*tables)[t];
    auto initial = server->values.find((*tables)[t]);
    if (initial == server->values.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat("table ", served[t], " (", (*tables)[t],
                       ") has no initial value in pserver.0 (a "
                       "table the model does not carry cannot become an ONNX initializer)"));
    }
    Tensor table = Tensor::FromValue(initial->second);
    const int64_t height = table.dim(0), dim = table.dim(1);
    for (const ServerCore::Contents& shard : shards) {
      for (const auto& [id, saved] : shard.tables) {
        if (id != served[t]) continue;
        const int64_t stride = saved.rows.dim(1);
        for (int64_t r = 0; r < saved.ids.numel(); ++r) {
          const int64_t row = saved.ids.data<int64_t>()[r];
          if (row < 0 || row >= height) {
            ++model.rows_beyond;
            continue;
          }
          std::memcpy(table.data<float>() + row * dim, saved.rows.data<float>() + r * stride,
                      dim * sizeof(float));
          ++model.rows_restored;
        }
      }
    }
    if (block.FindVar((*tables)[t]) == nullptr) {
      Var var;
      var.name = (*tables)[t];
      var.dtype = table.dtype();
      var.shape = table.shape();
      var.flags = kVarPersistable | kVarParameter;
      block.AddVar(std::move(var));
    }
    state.Set((*tables)[t], std::move(table));
  }
  // A trainer that pulls rows: its lookup becomes Gathers on the whole tables, in its place.
  std::vector<Op> ops;
  for (Op& op : block.ops) {
    if (op.type != "fleet.ps_pull_sparse") {
      ops.push_back(std::move(op));
      continue;
    }
    const std::vector<std::string>* ids = SlotVars(op.inputs, "Ids");
    const std::vector<std::string>* outs = SlotVars(op.outputs, "Out");
    const std::vector<int64_t> lookup_tables = IntsOf(op, "table_id");
    if (ids == nullptr || outs == nullptr || ids->size() != outs->size() ||
        lookup_tables.size() != ids->size()) {
      return absl::InvalidArgumentError(absl::StrCat(op.Describe(), ": malformed lookup"));
    }
    for (size_t i = 0; i < ids->size(); ++i) {
      auto name = table_var.find(lookup_tables[i]);
      if (name == table_var.end()) {
        return absl::InvalidArgumentError(absl::StrCat(op.Describe(), " reads table ",
                                                       lookup_tables[i], ", which no server has"));
      }
      Op gather;
      gather.type = "Gather";
      gather.name = absl::StrCat((*outs)[i], "@lookup");
      gather.inputs = {{"data", {name->second}}, {"indices", {(*ids)[i]}}};
      gather.outputs = {{"output", {(*outs)[i]}}};
      gather.attrs["axis"] = AttrValue(int64_t{0});
      gather.role = kRoleForward;
      ops.push_back(std::move(gather));
    }
  }
  block.ops = std::move(ops);
  FLEET_ASSIGN_OR_RETURN(model.forward, ForwardProgram(trainer, state));
  return model;
}

}  // namespace fleet::ps
