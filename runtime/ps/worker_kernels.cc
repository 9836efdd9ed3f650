// The worker's parameter-server kernels: fleet.ps_pull_sparse, fleet.ps_push and
// fleet.ps_pull_dense (runtime/ps/register.h; op contracts in ir/fleet_ps_ops.cc).
#include <algorithm>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "ir/fleet_ops.h"
#include "ir/status_macros.h"
#include "runtime/ps/communicator.h"
#include "runtime/ps/kernel_support.h"

namespace fleet::ps {

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
  std::vector<proto::PullSparseRequest> requests(servers);
  std::vector<bool> skip(servers, true);
  for (int s = 0; s < servers; ++s) {
    requests[s].set_worker(client->worker());
    for (const auto& [table, ids] : directory.per_server()[s]) {
      proto::SparseRows* rows = requests[s].add_tables();
      rows->set_table_id(table);
      rows->set_ids(IdBytes(ids));
      skip[s] = false;
    }
  }
  std::vector<proto::PullSparseReply> replies;
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
  std::vector<proto::PushRequest> requests(servers);
  for (proto::PushRequest& r : requests) {
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
    proto::DenseBlock* block = requests[layout.server[b]].add_dense();
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
      proto::SparseRows* rows = requests[s].add_sparse();
      rows->set_table_id(per_table[t].first);
      rows->set_ids(IdBytes(per_table[t].second));
      const std::vector<float>& values = sums[{s, t}];
      rows->set_values(values.data(), values.size() * sizeof(float));
    }
  }
  const std::string mode = ctx.GetString("mode", "sync");
  if (mode == "sync") return client->Push(requests);
  AsyncCommunicator* communicator = ctx.env().Get<AsyncCommunicator>();
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
                           const std::vector<proto::PullDenseReply>& replies,
                           std::vector<Tensor>* assembled);

absl::Status PullDenseKernel(KernelContext& ctx) {
  const int64_t pull_every = ctx.GetInt("pull_every", 1);
  const int64_t pull_warmup = ctx.GetInt("pull_warmup", kDefaultDensePullWarmup);
  if (pull_every < 1) {
    return ctx.InvalidArgument(absl::StrCat("attribute pull_every=", pull_every,
                                            "; expected >= 1 (1: a pull after every send)"));
  }
  if (pull_warmup < 0) {
    return ctx.InvalidArgument(
        absl::StrCat("attribute pull_warmup=", pull_warmup, "; expected >= 0 (0: no warm-up)"));
  }
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
  std::vector<proto::PullDenseRequest> requests(servers);
  for (proto::PullDenseRequest& r : requests) {
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
  AsyncCommunicator* communicator = ctx.env().Get<AsyncCommunicator>();
  const bool background =
      has_step && ctx.GetString("mode", "sync") == "async" && communicator != nullptr;
  std::shared_ptr<const std::vector<proto::PullDenseReply>> latest;
  std::vector<proto::PullDenseReply> pulled;
  if (background && state->tracking) {
    latest = communicator->LatestDense(&state->version);
    if (latest == nullptr) {
      for (int p = 0; p < layout.num_params; ++p) ctx.SetOutput(p, state->last[p]);
      return absl::OkStatus();
    }
  } else {
    FLEET_RETURN_IF_ERROR(client->PullDense(requests, &pulled));
    if (background) {
      communicator->TrackDense(requests, pull_every, pull_warmup);
      state->tracking = true;
    }
  }
  std::vector<Tensor> assembled;
  FLEET_RETURN_IF_ERROR(AssembleDense(ctx, layout, latest ? *latest : pulled, &assembled));
  if (background) state->last = std::move(assembled);
  return absl::OkStatus();
}

// Sets each output to its parameter reassembled from the replies' blocks (also handed back in
// `assembled`).
absl::Status AssembleDense(KernelContext& ctx, const BlockLayout& layout,
                           const std::vector<proto::PullDenseReply>& replies,
                           std::vector<Tensor>* assembled) {
  std::map<int64_t, const proto::DenseBlock*> received;
  for (const auto& reply : replies) {
    for (const auto& block : reply.dense()) received[block.block_id()] = &block;
  }
  // Each parameter: its rows are its blocks' rows; the other dimensions come from any block.
  std::vector<int64_t> total_rows(layout.num_params, 0);
  std::vector<const proto::DenseBlock*> first(layout.num_params, nullptr);
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
    const proto::DenseBlock& block = *received.at(layout.id[b]);
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

}  // namespace fleet::ps
