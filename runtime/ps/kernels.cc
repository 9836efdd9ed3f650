// The parameter-server kernels (runtime/ps/register.h; op contracts in ir/fleet_ps_ops.cc).
#include <algorithm>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "executor/sub_block.h"
#include "ir/status_macros.h"
#include "runtime/ps/client.h"
#include "runtime/ps/communicator.h"
#include "runtime/ps/register.h"
#include "runtime/ps/server_core.h"
#include "runtime/ps/service.h"
#include "runtime/ps/shard_checkpoint.h"
#include "runtime/ps/sharding.h"

namespace fleet {
namespace {

using ps::PsClient;

absl::StatusOr<PsClient*> FindClient(const KernelContext& ctx) {
  PsClient* client = ctx.env().Get<PsClient>();
  if (client == nullptr) {
    return ctx.FailedPrecondition(
        "no parameter-server client in the execution environment (hint: Fleet::InitWorker "
        "connects one in a parameter-server job; run the job with fleet-run)");
  }
  return client;
}

// An id tensor's elements as i64 (i32 ids widen).
absl::StatusOr<std::vector<int64_t>> IdsOf(const KernelContext& ctx, int input) {
  const Tensor& ids = ctx.input(input);
  std::vector<int64_t> out(ids.numel());
  if (ids.dtype() == DataType::kI64) {
    std::memcpy(out.data(), ids.data<int64_t>(), ids.nbytes());
  } else if (ids.dtype() == DataType::kI32) {
    std::copy(ids.data<int32_t>(), ids.data<int32_t>() + ids.numel(), out.begin());
  } else {
    return ctx.InvalidArgument(
        absl::StrCat("input ", input, " (ids) is ", ids.TypeString(), "; expected i64 or i32"));
  }
  return out;
}

std::string IdBytes(const std::vector<int64_t>& ids) {
  return std::string(reinterpret_cast<const char*>(ids.data()), ids.size() * sizeof(int64_t));
}

// Every distinct (table, id) of a step, grouped by the server that holds it.
class RowDirectory {
 public:
  explicit RowDirectory(int num_servers) : per_server_(num_servers) {}

  // Where row `id` of `table` is in its server's list, adding it on first sight.
  struct Slot {
    int server;
    int table_index;  // in per_server(server)
    int64_t row;      // in that table's ids
  };
  Slot Add(int64_t table, int64_t id) {
    auto [it, inserted] = slots_.try_emplace({table, id});
    if (inserted) {
      const int server = ps::ServerOfRow(id, static_cast<int>(per_server_.size()));
      auto& tables = per_server_[server];
      auto found = std::find_if(tables.begin(), tables.end(),
                                [&](const auto& t) { return t.first == table; });
      if (found == tables.end()) found = tables.insert(tables.end(), {table, {}});
      it->second = Slot{server, static_cast<int>(found - tables.begin()),
                        static_cast<int64_t>(found->second.size())};
      found->second.push_back(id);
    }
    return it->second;
  }
  // Per server: (table id, its distinct ids), in order of first sight.
  const std::vector<std::vector<std::pair<int64_t, std::vector<int64_t>>>>& per_server() const {
    return per_server_;
  }

 private:
  absl::flat_hash_map<std::pair<int64_t, int64_t>, Slot> slots_;
  std::vector<std::vector<std::pair<int64_t, std::vector<int64_t>>>> per_server_;
};

absl::Status CheckTableAttrs(const KernelContext& ctx, const std::vector<int64_t>& table_id,
                             const std::vector<int64_t>& table_dim) {
  if (table_dim.size() != table_id.size()) {
    return ctx.InvalidArgument(absl::StrCat(table_id.size(), " table_id entries but ",
                                            table_dim.size(), " table_dim entries"));
  }
  for (int64_t d : table_dim) {
    if (d < 1) return ctx.InvalidArgument(absl::StrCat("table_dim ", d, "; expected >= 1"));
  }
  return absl::OkStatus();
}

absl::Status PullSparseKernel(KernelContext& ctx) {
  FLEET_ASSIGN_OR_RETURN(PsClient * client, FindClient(ctx));
  const std::vector<int64_t> table_id = ctx.GetInts("table_id", {});
  const std::vector<int64_t> table_dim = ctx.GetInts("table_dim", {});
  FLEET_RETURN_IF_ERROR(CheckTableAttrs(ctx, table_id, table_dim));
  const int n = ctx.num_inputs();
  if (static_cast<int>(table_id.size()) != n || ctx.num_outputs() != n) {
    return ctx.InvalidArgument(absl::StrCat(n, " inputs, ", ctx.num_outputs(), " outputs and ",
                                            table_id.size(), " tables; expected as many of each"));
  }
  RowDirectory directory(client->num_servers());
  std::vector<std::vector<RowDirectory::Slot>> slots(n);
  for (int i = 0; i < n; ++i) {
    FLEET_ASSIGN_OR_RETURN(std::vector<int64_t> ids, IdsOf(ctx, i));
    slots[i].reserve(ids.size());
    for (int64_t id : ids) slots[i].push_back(directory.Add(table_id[i], id));
  }
  const int servers = client->num_servers();
  std::vector<ps::proto::PullSparseRequest> requests(servers);
  std::vector<bool> skip(servers, true);
  for (int s = 0; s < servers; ++s) {
    requests[s].set_worker(client->worker());
    for (const auto& [table, ids] : directory.per_server()[s]) {
      ps::proto::SparseRows* rows = requests[s].add_tables();
      rows->set_table_id(table);
      rows->set_ids(IdBytes(ids));
      skip[s] = false;
    }
  }
  std::vector<ps::proto::PullSparseReply> replies;
  FLEET_RETURN_IF_ERROR(client->PullSparse(requests, skip, &replies));
  // Check every reply before reading it: a server answering the wrong shape is an error.
  for (int s = 0; s < servers; ++s) {
    const auto& asked = directory.per_server()[s];
    if (replies[s].tables_size() != static_cast<int>(asked.size())) {
      return ctx.FailedPrecondition(absl::StrCat("parameter server ", s, " answered ",
                                                 replies[s].tables_size(), " tables for ",
                                                 asked.size()));
    }
  }
  for (int i = 0; i < n; ++i) {
    const int64_t dim = table_dim[i];
    std::vector<int64_t> shape = ctx.input(i).shape();
    shape.push_back(dim);
    Tensor* out = ctx.Output(i, DataType::kF32, shape);
    float* dst = out->data<float>();
    for (size_t k = 0; k < slots[i].size(); ++k) {
      const RowDirectory::Slot& slot = slots[i][k];
      const std::string& values = replies[slot.server].tables(slot.table_index).values();
      const size_t want =
          directory.per_server()[slot.server][slot.table_index].second.size() * dim * sizeof(float);
      if (values.size() != want) {
        return ctx.FailedPrecondition(absl::StrCat(
            "parameter server ", slot.server, " answered ", values.size(), " bytes for table ",
            table_id[i], "; expected ", want, " (rows of ", dim, " f32)"));
      }
      std::memcpy(dst + k * dim, values.data() + slot.row * dim * sizeof(float),
                  dim * sizeof(float));
    }
  }
  return absl::OkStatus();
}

// The block layout of ps_push and ps_pull_dense.
struct BlockLayout {
  std::vector<int64_t> id, param, begin, rows, server;
  int num_params = 0;

  static absl::StatusOr<BlockLayout> Of(const KernelContext& ctx, int num_servers) {
    BlockLayout l;
    l.id = ctx.GetInts("block_id", {});
    l.param = ctx.GetInts("block_param", {});
    l.begin = ctx.GetInts("block_begin", {});
    l.rows = ctx.GetInts("block_rows", {});
    l.server = ctx.GetInts("block_server", {});
    const size_t n = l.id.size();
    if (l.param.size() != n || l.begin.size() != n || l.rows.size() != n || l.server.size() != n) {
      return ctx.InvalidArgument(
          "block_id, block_param, block_begin, block_rows and block_server differ in length");
    }
    for (size_t b = 0; b < n; ++b) {
      if (l.param[b] < 0 || l.begin[b] < 0 || l.rows[b] < 1 || l.server[b] < 0 ||
          l.server[b] >= num_servers) {
        return ctx.InvalidArgument(absl::StrCat(
            "block ", l.id[b], ": param ", l.param[b], ", rows ", l.begin[b], "+", l.rows[b],
            ", server ", l.server[b], " (the job has ", num_servers, " servers)"));
      }
      l.num_params = std::max<int>(l.num_params, static_cast<int>(l.param[b]) + 1);
    }
    return l;
  }
};

absl::StatusOr<int64_t> StepOf(const KernelContext& ctx, int input) {
  const Tensor& step = ctx.input(input);
  if (step.dtype() != DataType::kI64 || step.numel() != 1) {
    return ctx.InvalidArgument(absl::StrCat("Step is ", step.TypeString(), "; expected i64[1]"));
  }
  return *step.data<int64_t>();
}

absl::Status PushKernel(KernelContext& ctx) {
  FLEET_ASSIGN_OR_RETURN(PsClient * client, FindClient(ctx));
  const int servers = client->num_servers();
  FLEET_ASSIGN_OR_RETURN(BlockLayout layout, BlockLayout::Of(ctx, servers));
  const std::vector<int64_t> table_id = ctx.GetInts("table_id", {});
  const int dense = layout.num_params;
  const int tables = static_cast<int>(table_id.size());
  if (ctx.num_inputs() != 1 + dense + 2 * tables) {
    return ctx.InvalidArgument(absl::StrCat(
        ctx.num_inputs(), " inputs; the blocks name ", dense, " dense gradients and table_id ",
        tables, " tables, so expected Step + ", dense, " + 2 x ", tables));
  }
  FLEET_ASSIGN_OR_RETURN(int64_t step, StepOf(ctx, 0));
  std::vector<ps::proto::PushRequest> requests(servers);
  for (ps::proto::PushRequest& r : requests) {
    r.set_worker(client->worker());
    r.set_step(step);
  }
  for (size_t b = 0; b < layout.id.size(); ++b) {
    const Tensor& grad = ctx.input(1 + static_cast<int>(layout.param[b]));
    if (grad.dtype() != DataType::kF32 || grad.is_sparse_rows() || grad.rank() < 1 ||
        layout.begin[b] + layout.rows[b] > grad.dim(0)) {
      return ctx.InvalidArgument(absl::StrCat(
          "dense gradient ", layout.param[b], " is ", grad.TypeString(), "; block ", layout.id[b],
          " needs f32 rows ", layout.begin[b], "..", layout.begin[b] + layout.rows[b]));
    }
    const int64_t row = grad.numel() / grad.dim(0);
    ps::proto::DenseBlock* block = requests[layout.server[b]].add_dense();
    block->set_block_id(layout.id[b]);
    block->set_values(grad.data<float>() + layout.begin[b] * row,
                      layout.rows[b] * row * sizeof(float));
  }
  // Sparse gradients: rows of one table from all entries, repeated ids added up.
  RowDirectory directory(servers);
  std::map<std::pair<int, int>, std::vector<float>> sums;  // (server, table index) -> rows
  for (int i = 0; i < tables; ++i) {
    FLEET_ASSIGN_OR_RETURN(std::vector<int64_t> ids, IdsOf(ctx, 1 + dense + i));
    const Tensor& grad = ctx.input(1 + dense + tables + i);
    if (grad.dtype() != DataType::kF32 || ids.empty() ||
        grad.numel() % static_cast<int64_t>(ids.size()) != 0) {
      if (ids.empty() && grad.numel() == 0) continue;
      return ctx.InvalidArgument(absl::StrCat("sparse gradient ", i, " is ", grad.TypeString(),
                                              " for ", ids.size(), " ids; expected f32 rows"));
    }
    const int64_t dim = grad.numel() / static_cast<int64_t>(ids.size());
    const float* g = grad.data<float>();
    for (size_t k = 0; k < ids.size(); ++k) {
      const RowDirectory::Slot slot = directory.Add(table_id[i], ids[k]);
      std::vector<float>& rows = sums[{slot.server, slot.table_index}];
      if (rows.size() < static_cast<size_t>((slot.row + 1) * dim))
        rows.resize((slot.row + 1) * dim);
      float* dst = rows.data() + slot.row * dim;
      for (int64_t j = 0; j < dim; ++j) dst[j] += g[k * dim + j];
    }
  }
  for (int s = 0; s < servers; ++s) {
    const auto& per_table = directory.per_server()[s];
    for (int t = 0; t < static_cast<int>(per_table.size()); ++t) {
      ps::proto::SparseRows* rows = requests[s].add_sparse();
      rows->set_table_id(per_table[t].first);
      rows->set_ids(IdBytes(per_table[t].second));
      const std::vector<float>& values = sums[{s, t}];
      rows->set_values(values.data(), values.size() * sizeof(float));
    }
  }
  const std::string mode = ctx.GetString("mode", "sync");
  if (mode == "sync") return client->Push(requests);
  ps::AsyncCommunicator* communicator = ctx.env().Get<ps::AsyncCommunicator>();
  if (communicator == nullptr) {
    return ctx.FailedPrecondition(
        absl::StrCat("mode \"", mode,
                     "\" sends through a communicator, and the execution environment has "
                     "none (hint: Fleet::InitWorker installs one)"));
  }
  FLEET_RETURN_IF_ERROR(communicator->Enqueue(std::move(requests)));
  // Half-async: no barrier with the other workers, but this worker's own gradients are on the
  // servers before it pulls.
  if (mode == "half_async") return communicator->Flush();
  return absl::OkStatus();
}

// What ps_pull_dense keeps between runs in async mode: the communicator's version it consumed
// and the values it gave last (handed out again while nothing newer has come).
struct PullDenseState final : KernelState {
  bool tracking = false;
  int64_t version = 0;
  std::vector<Tensor> last;
};

absl::Status AssembleDense(KernelContext& ctx, const BlockLayout& layout,
                           const std::vector<ps::proto::PullDenseReply>& replies,
                           std::vector<Tensor>* assembled);

absl::Status PullDenseKernel(KernelContext& ctx) {
  FLEET_ASSIGN_OR_RETURN(PsClient * client, FindClient(ctx));
  const int servers = client->num_servers();
  FLEET_ASSIGN_OR_RETURN(BlockLayout layout, BlockLayout::Of(ctx, servers));
  if (ctx.num_outputs() != layout.num_params) {
    return ctx.InvalidArgument(absl::StrCat(ctx.num_outputs(), " outputs; the blocks name ",
                                            layout.num_params, " parameters"));
  }
  const bool has_step = ctx.num_inputs() > 0 && ctx.has_input(0);
  int64_t step = -1;
  if (has_step) {
    FLEET_ASSIGN_OR_RETURN(step, StepOf(ctx, 0));
  }
  const bool wait = has_step && ctx.GetString("mode", "sync") == "sync";
  std::vector<ps::proto::PullDenseRequest> requests(servers);
  for (ps::proto::PullDenseRequest& r : requests) {
    r.set_worker(client->worker());
    r.set_step(step);
    r.set_wait_for_step(wait);
  }
  for (size_t b = 0; b < layout.id.size(); ++b)
    requests[layout.server[b]].add_block_ids(layout.id[b]);
  // Async: after the first pull, the communicator pulls after each send; take what it has.
  auto* state = static_cast<PullDenseState*>(ctx.state()->get());
  if (state == nullptr) {
    *ctx.state() = std::make_unique<PullDenseState>();
    state = static_cast<PullDenseState*>(ctx.state()->get());
  }
  ps::AsyncCommunicator* communicator = ctx.env().Get<ps::AsyncCommunicator>();
  const bool background =
      has_step && ctx.GetString("mode", "sync") == "async" && communicator != nullptr;
  std::vector<ps::proto::PullDenseReply> replies;
  if (background && state->tracking) {
    if (!communicator->LatestDense(&state->version, &replies)) {
      for (int p = 0; p < layout.num_params; ++p) ctx.SetOutput(p, state->last[p]);
      return absl::OkStatus();
    }
  } else {
    FLEET_RETURN_IF_ERROR(client->PullDense(requests, &replies));
    if (background) {
      communicator->TrackDense(requests);
      state->tracking = true;
    }
  }
  std::vector<Tensor> assembled;
  FLEET_RETURN_IF_ERROR(AssembleDense(ctx, layout, replies, &assembled));
  if (background) state->last = std::move(assembled);
  return absl::OkStatus();
}

// Sets each output to its parameter reassembled from the replies' blocks (also handed back in
// `assembled`).
absl::Status AssembleDense(KernelContext& ctx, const BlockLayout& layout,
                           const std::vector<ps::proto::PullDenseReply>& replies,
                           std::vector<Tensor>* assembled) {
  std::map<int64_t, const ps::proto::DenseBlock*> received;
  for (const auto& reply : replies) {
    for (const auto& block : reply.dense()) received[block.block_id()] = &block;
  }
  // Each parameter: its rows are its blocks' rows; the other dimensions come from any block.
  std::vector<int64_t> total_rows(layout.num_params, 0);
  std::vector<const ps::proto::DenseBlock*> first(layout.num_params, nullptr);
  for (size_t b = 0; b < layout.id.size(); ++b) {
    auto it = received.find(layout.id[b]);
    if (it == received.end() || it->second->shape_size() < 1 ||
        it->second->shape(0) != layout.rows[b]) {
      return ctx.FailedPrecondition(absl::StrCat("parameter server ", layout.server[b],
                                                 " did not send block ", layout.id[b], " of ",
                                                 layout.rows[b], " rows"));
    }
    total_rows[layout.param[b]] =
        std::max(total_rows[layout.param[b]], layout.begin[b] + layout.rows[b]);
    if (first[layout.param[b]] == nullptr) first[layout.param[b]] = it->second;
  }
  std::vector<float*> out(layout.num_params);
  std::vector<int64_t> row_size(layout.num_params);
  for (int p = 0; p < layout.num_params; ++p) {
    if (first[p] == nullptr)
      return ctx.InvalidArgument(absl::StrCat("parameter ", p, " has no blocks"));
    std::vector<int64_t> shape(first[p]->shape().begin(), first[p]->shape().end());
    shape[0] = total_rows[p];
    row_size[p] = 1;
    for (size_t d = 1; d < shape.size(); ++d) row_size[p] *= shape[d];
    Tensor* tensor = ctx.Output(p, DataType::kF32, shape);
    out[p] = tensor->data<float>();
    assembled->push_back(*tensor);  // shares the buffer filled below
  }
  for (size_t b = 0; b < layout.id.size(); ++b) {
    const ps::proto::DenseBlock& block = *received.at(layout.id[b]);
    const int64_t p = layout.param[b];
    const size_t want = layout.rows[b] * row_size[p] * sizeof(float);
    if (block.values().size() != want) {
      return ctx.FailedPrecondition(absl::StrCat("parameter server ", layout.server[b], " sent ",
                                                 block.values().size(), " bytes for block ",
                                                 layout.id[b], "; expected ", want));
    }
    std::memcpy(out[p] + layout.begin[b] * row_size[p], block.values().data(), want);
  }
  return absl::OkStatus();
}

// The update rule of a server program: its `update` block, one run at a time.
class SubBlockRule final : public ps::UpdateRule {
 public:
  SubBlockRule(SubBlocks* blocks, int num_states) : blocks_(blocks), num_states_(num_states) {}

  absl::Status Apply(int64_t step, ps::UpdateTensors& t) override {
    std::vector<Tensor> feeds;
    feeds.reserve(3 + t.states.size());
    Tensor step_tensor(DataType::kI64, {1});
    *step_tensor.data<int64_t>() = step;
    feeds.push_back(std::move(step_tensor));
    feeds.push_back(t.param);
    feeds.push_back(t.grad);
    for (const Tensor& s : t.states) feeds.push_back(s);
    std::vector<Tensor> results;
    std::lock_guard<std::mutex> lock(mu_);
    FLEET_RETURN_IF_ERROR(blocks_->Run("update", feeds, &results));
    if (static_cast<int>(results.size()) != 1 + num_states_) {
      return absl::InvalidArgumentError(absl::StrCat("the update block gave ", results.size(),
                                                     " results; expected the parameter and ",
                                                     num_states_, " states"));
    }
    t.param = std::move(results[0]);
    for (int s = 0; s < num_states_; ++s) t.states[s] = std::move(results[1 + s]);
    return absl::OkStatus();
  }

 private:
  SubBlocks* blocks_;
  int num_states_;
  std::mutex mu_;
};

absl::Status ServeKernel(KernelContext& ctx) {
  const ps::ServeConfig* config = ctx.env().Get<ps::ServeConfig>();
  if (config == nullptr) {
    return ctx.FailedPrecondition(
        "no server configuration in the execution environment (hint: Fleet::InitServer "
        "installs one; run server programs with fleet-run)");
  }
  if (ctx.sub_blocks() == nullptr) return ctx.FailedPrecondition("the op has no update block");
  absl::StatusOr<ps::SyncMode> mode = ps::ParseSyncMode(ctx.GetString("mode", "sync"));
  if (!mode.ok()) return ctx.InvalidArgument(std::string(mode.status().message()));
  const std::vector<int64_t> block_id = ctx.GetInts("block_id", {});
  const std::vector<int64_t> table_id = ctx.GetInts("table_id", {});
  const std::vector<int64_t> table_dim = ctx.GetInts("table_dim", {});
  FLEET_RETURN_IF_ERROR(CheckTableAttrs(ctx, table_id, table_dim));
  const std::vector<int64_t> rowwise = ctx.GetInts("state_rowwise", {});
  const std::vector<float> state_init = ctx.GetFloats("state_init", {});
  if (state_init.size() != rowwise.size()) {
    return ctx.InvalidArgument(absl::StrCat(rowwise.size(), " state_rowwise entries but ",
                                            state_init.size(), " state_init entries"));
  }
  absl::StatusOr<ps::RowInit> row_init = ps::RowInit::Parse(ctx.GetString("row_init", "zeros"));
  if (!row_init.ok()) return ctx.InvalidArgument(std::string(row_init.status().message()));
  const int blocks = static_cast<int>(block_id.size());
  const int tables = static_cast<int>(table_id.size());
  const int k = static_cast<int>(rowwise.size());
  const int whole = static_cast<int>(std::count(rowwise.begin(), rowwise.end(), 0));
  const int expected = blocks * (1 + k) + tables * (1 + whole);
  if (ctx.num_inputs() != expected || ctx.num_outputs() != blocks * (1 + k) + tables * whole) {
    return ctx.InvalidArgument(
        absl::StrCat(ctx.num_inputs(), " inputs and ", ctx.num_outputs(), " outputs; ", blocks,
                     " blocks, ", tables, " tables and ", k, " states (", whole, " whole) take ",
                     expected, " inputs and ", blocks * (1 + k) + tables * whole, " outputs"));
  }
  std::vector<ps::DenseBlockSpec> block_specs(blocks);
  for (int b = 0; b < blocks; ++b) {
    block_specs[b].block_id = block_id[b];
    block_specs[b].value = ctx.input(b).Clone();
    for (int s = 0; s < k; ++s)
      block_specs[b].states.push_back(ctx.input(blocks + b * k + s).Clone());
  }
  const int tables_at = blocks * (1 + k);
  std::vector<ps::SparseTableSpec> table_specs(tables);
  for (int t = 0; t < tables; ++t) {
    ps::SparseTableSpec& spec = table_specs[t];
    spec.table_id = table_id[t];
    spec.dim = table_dim[t];
    if (ctx.has_input(tables_at + t)) spec.model_rows = ctx.input(tables_at + t);
    spec.row_init = *row_init;
    for (int s = 0; s < k; ++s) {
      spec.state_rowwise.push_back(rowwise[s] != 0);
      spec.state_init.push_back(state_init[s]);
    }
    for (int s = 0; s < whole; ++s) {
      spec.whole_states.push_back(ctx.input(tables_at + tables + t * whole + s).Clone());
    }
  }
  SubBlockRule rule(ctx.sub_blocks(), k);
  ps::ServerCoreOptions options;
  options.server = config->server;
  options.num_servers = config->num_servers;
  options.num_workers = config->num_workers;
  options.mode = *mode;
  options.heartbeat_timeout = config->heartbeat_timeout;
  absl::StatusOr<std::unique_ptr<ps::ServerCore>> core =
      ps::ServerCore::Create(options, std::move(block_specs), std::move(table_specs), &rule);
  if (!core.ok()) return ctx.InvalidArgument(std::string(core.status().message()));
  if (!config->load_dir.empty()) {
    absl::StatusOr<ps::ServerCore::Contents> saved = ps::ReadShard(
        ps::ShardFolder(config->load_dir, config->server), config->server, config->num_servers);
    if (!saved.ok()) return saved.status();
    absl::Status loaded = (*core)->Import(*saved);
    if (!loaded.ok()) {
      return absl::Status(
          loaded.code(),
          absl::StrCat(ps::ShardFolder(config->load_dir, config->server), ": ", loaded.message()));
    }
  }
  absl::StatusOr<std::unique_ptr<ps::PsService>> service =
      ps::PsService::Start(config->endpoint, core->get());
  if (!service.ok()) return service.status();
  if (config->on_listening) config->on_listening((*service)->port());
  absl::Status served = (*core)->WaitUntilWorkersDone();
  (*service)->Shutdown(absl::Seconds(2));
  if (config->on_finished) {
    ps::ServeReport report;
    report.sparse_rows = (*core)->sparse_rows();
    report.sparse_bytes = (*core)->sparse_bytes();
    report.lost_workers = (*core)->LostWorkers();
    config->on_finished(report);
  }
  FLEET_RETURN_IF_ERROR(served);
  std::vector<Tensor> values;
  std::vector<std::vector<Tensor>> states, table_states;
  (*core)->Snapshot(&values, &states, &table_states);
  // Snapshot lists blocks and tables by id; the op's order is the attributes'.
  std::vector<int> block_order(blocks), table_order(tables);
  for (int b = 0; b < blocks; ++b) block_order[b] = b;
  for (int t = 0; t < tables; ++t) table_order[t] = t;
  std::sort(block_order.begin(), block_order.end(),
            [&](int a, int b) { return block_id[a] < block_id[b]; });
  std::sort(table_order.begin(), table_order.end(),
            [&](int a, int b) { return table_id[a] < table_id[b]; });
  for (int i = 0; i < blocks; ++i) {
    const int b = block_order[i];
    ctx.SetOutput(b, values[i]);
    for (int s = 0; s < k; ++s) ctx.SetOutput(blocks + b * k + s, states[i][s]);
  }
  for (int i = 0; i < tables; ++i) {
    const int t = table_order[i];
    for (int s = 0; s < whole; ++s)
      ctx.SetOutput(blocks * (1 + k) + t * whole + s, table_states[i][s]);
  }
  return absl::OkStatus();
}

}  // namespace

void RegisterParameterServerKernels(KernelTable& table) {
  table.AddAnyType("fleet.ps_pull_sparse", Device::kCpu, &PullSparseKernel);
  table.AddAnyType("fleet.ps_push", Device::kCpu, &PushKernel);
  table.AddAnyType("fleet.ps_pull_dense", Device::kCpu, &PullDenseKernel);
  table.AddAnyType("fleet.ps_serve", Device::kCpu, &ServeKernel);
}

}  // namespace fleet
