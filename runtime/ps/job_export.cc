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

// The dense parameters from their blocks (the trainer's ps_pull_dense lays them out).
absl::Status RestoreDense(const Op& pull, const std::vector<ServerCore::Contents>& shards,
                          Scope& state) {
  const std::vector<std::string>* params = SlotVars(pull.outputs, "Out");
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
  std::vector<Tensor> out(params->size());
  for (size_t b = 0; b < ids.size(); ++b) {
    auto it = saved.find(ids[b]);
    if (it == saved.end() || of[b] < 0 || of[b] >= static_cast<int64_t>(params->size()) ||
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
  for (size_t p = 0; p < params->size(); ++p) {
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
  if (main == nullptr || server == nullptr) {
    return absl::InvalidArgumentError("not a parameter-server job (no main or pserver.0 program)");
  }
  int servers = 0;
  while (job.Find(ServerProgramName(servers)) != nullptr) ++servers;
  Program trainer = *main;
  FLEET_RETURN_IF_ERROR(LoadJobCheckpointTrainer(dir, trainer, state).status());
  FLEET_ASSIGN_OR_RETURN(std::vector<ServerCore::Contents> shards, ReadShards(dir, servers));
  Block& block = trainer.main();
  if (const Op* pull = FindOp(block, "fleet.ps_pull_dense")) {
    FLEET_RETURN_IF_ERROR(RestoreDense(*pull, shards, state));
  }
  ExportedModel model;
  const Op* serve = FindOp(server->main(), "fleet.ps_serve");
  const Op* lookup = FindOp(block, "fleet.ps_pull_sparse");
  if (lookup != nullptr) {
    if (serve == nullptr) return absl::InvalidArgumentError("pserver.0 has no fleet.ps_serve op");
    // The table of each id: its var on the servers (the model's name) and initial value.
    std::map<int64_t, std::string> table_var;
    const std::vector<std::string>* tables = SlotVars(serve->inputs, "Tables");
    const std::vector<int64_t> served = IntsOf(*serve, "table_id");
    for (size_t t = 0; tables != nullptr && t < tables->size() && t < served.size(); ++t) {
      table_var[served[t]] = (*tables)[t];
    }
    std::map<int64_t, std::vector<std::pair<const Tensor*, const Tensor*>>> saved_rows;
    for (const ServerCore::Contents& shard : shards) {
      for (const auto& [id, table] : shard.tables)
        saved_rows[id].emplace_back(&table.ids, &table.rows);
    }
    std::vector<Op> gathers;
    const std::vector<std::string>* ids = SlotVars(lookup->inputs, "Ids");
    const std::vector<std::string>* outs = SlotVars(lookup->outputs, "Out");
    const std::vector<int64_t> lookup_tables = IntsOf(*lookup, "table_id");
    for (size_t i = 0; ids != nullptr && outs != nullptr && i < ids->size(); ++i) {
      auto name = table_var.find(lookup_tables.at(i));
      auto initial =
          name == table_var.end() ? server->values.end() : server->values.find(name->second);
      if (initial == server->values.end()) {
        return absl::InvalidArgumentError(
            absl::StrCat("table ", lookup_tables[i],
                         " has no initial value in pserver.0 (a table the model "
                         "does not carry cannot become an ONNX initializer)"));
      }
      Op gather;
      gather.type = "Gather";
      gather.name = absl::StrCat((*outs)[i], "@lookup");
      gather.inputs = {{"data", {name->second}}, {"indices", {(*ids)[i]}}};
      gather.outputs = {{"output", {(*outs)[i]}}};
      gather.attrs["axis"] = AttrValue(int64_t{0});
      gather.role = kRoleForward;
      gathers.push_back(std::move(gather));
      if (state.FindLocal(name->second) != nullptr) continue;  // a table read twice
      Tensor table = Tensor::FromValue(initial->second);
      const int64_t height = table.dim(0), dim = table.dim(1);
      for (const auto& [row_ids, rows] : saved_rows[lookup_tables[i]]) {
        const int64_t stride = rows->dim(1);
        for (int64_t r = 0; r < row_ids->numel(); ++r) {
          const int64_t id = row_ids->data<int64_t>()[r];
          if (id < 0 || id >= height) {
            ++model.rows_beyond;
            continue;
          }
          std::memcpy(table.data<float>() + id * dim, rows->data<float>() + r * stride,
                      dim * sizeof(float));
          ++model.rows_restored;
        }
      }
      Var var;
      var.name = name->second;
      var.dtype = table.dtype();
      var.shape = table.shape();
      var.flags = kVarPersistable | kVarParameter;
      block.AddVar(std::move(var));
      state.Set(name->second, std::move(table));
    }
    // The lookup becomes its Gathers, in its place.
    std::vector<Op> ops;
    for (Op& op : block.ops) {
      if (op.type == "fleet.ps_pull_sparse") {
        for (Op& g : gathers) ops.push_back(std::move(g));
      } else {
        ops.push_back(std::move(op));
      }
    }
    block.ops = std::move(ops);
  }
  FLEET_ASSIGN_OR_RETURN(model.forward, ForwardProgram(trainer, state));
  return model;
}

}  // namespace fleet::ps
