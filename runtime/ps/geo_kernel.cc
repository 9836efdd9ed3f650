// fleet.ps_geo_sync: a geo-SGD trainer's exchange with the servers every k steps
// (runtime/ps/register.h; op contract in ir/fleet_ps_ops.cc).
#include <algorithm>
#include <cstring>
#include <map>
#include <memory>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "ir/status_macros.h"
#include "runtime/ps/kernel_support.h"

namespace fleet::ps {
namespace {

// The table rows this trainer touched since its last exchange, per table.
struct GeoState final : KernelState {
  std::vector<absl::flat_hash_set<int64_t>> touched;
};

// The op's inputs and outputs by role: Params = dense parameters, then tables.
struct GeoOperands {
  int dense = 0, tables = 0, lookups = 0;
  int param(int i) const { return 1 + i; }
  int base(int i) const { return 1 + dense + tables + i; }
  int ids(int j) const { return 1 + 2 * (dense + tables) + j; }
  int params() const { return dense + tables; }
};

float* RowOf(Tensor& t, int64_t row) { return t.data<float>() + row * (t.numel() / t.dim(0)); }
const float* RowOf(const Tensor& t, int64_t row) {
  return t.data<float>() + row * (t.numel() / t.dim(0));
}

}  // namespace

absl::Status GeoSyncKernel(KernelContext& ctx) {
  const int64_t k = ctx.GetInt("k_steps", 100);
  if (k < 1) return ctx.InvalidArgument(absl::StrCat("k_steps ", k, "; expected >= 1"));
  FLEET_ASSIGN_OR_RETURN(PsClient * client, FindClient(ctx));
  const int servers = client->num_servers();
  FLEET_ASSIGN_OR_RETURN(BlockLayout layout, BlockLayout::Of(ctx, servers));
  const std::vector<int64_t> table_id = ctx.GetInts("table_id", {});
  const std::vector<int64_t> lookup_table = ctx.GetInts("lookup_table", {});
  GeoOperands at{layout.num_params, static_cast<int>(table_id.size()),
                 static_cast<int>(lookup_table.size())};
  if (ctx.num_inputs() != 1 + 2 * at.params() + at.lookups ||
      ctx.num_outputs() != 2 * at.params()) {
    return ctx.InvalidArgument(
        absl::StrCat(ctx.num_inputs(), " inputs and ", ctx.num_outputs(), " outputs; ", at.dense,
                     " dense parameters, ", at.tables, " tables and ", at.lookups, " lookups take ",
                     1 + 2 * at.params() + at.lookups, " and ", 2 * at.params()));
  }
  for (int64_t t : lookup_table) {
    if (t < 0 || t >= at.tables) {
      return ctx.InvalidArgument(absl::StrCat("lookup_table names table ", t, " of ", at.tables));
    }
  }
  for (int i = 0; i < at.params(); ++i) {
    const Tensor& p = ctx.input(at.param(i));
    const Tensor& b = ctx.input(at.base(i));
    if (p.dtype() != DataType::kF32 || p.shape() != b.shape() || p.rank() < 1 || p.dim(0) == 0) {
      return ctx.InvalidArgument(absl::StrCat("parameter ", i, " is ", p.TypeString(),
                                              " and its base ", b.TypeString(),
                                              "; expected equal f32 shapes with rows"));
    }
  }
  auto* state = static_cast<GeoState*>(ctx.state()->get());
  if (state == nullptr) {
    *ctx.state() = std::make_unique<GeoState>();
    state = static_cast<GeoState*>(ctx.state()->get());
    state->touched.resize(at.tables);
  }
  for (int j = 0; j < at.lookups; ++j) {
    FLEET_ASSIGN_OR_RETURN(std::vector<int64_t> ids, IdsOf(ctx, at.ids(j)));
    const Tensor& table = ctx.input(at.param(at.dense + static_cast<int>(lookup_table[j])));
    for (int64_t id : ids) {
      if (id < 0 || id >= table.dim(0)) {
        return ctx.InvalidArgument(absl::StrCat("id ", id, " is outside table ", lookup_table[j],
                                                "'s ", table.dim(0), " rows"));
      }
      state->touched[lookup_table[j]].insert(id);
    }
  }
  FLEET_ASSIGN_OR_RETURN(int64_t step, StepOf(ctx, 0));
  if ((step + 1) % k != 0) {  // not an exchange: everything stays as it is
    for (int i = 0; i < at.params(); ++i) {
      ctx.SetOutput(i, ctx.input(at.param(i)));
      ctx.SetOutput(at.params() + i, ctx.input(at.base(i)));
    }
    return absl::OkStatus();
  }
  // The changes since the last exchange, each worker's share: (param - base) / workers.
  const float share = 1.0f / static_cast<float>(std::max(client->num_workers(), 1));
  std::vector<proto::PushRequest> push(servers);
  std::vector<proto::PullDenseRequest> pull_dense(servers);
  std::vector<proto::PullSparseRequest> pull_rows(servers);
  std::vector<bool> no_rows(servers, true);
  for (int s = 0; s < servers; ++s) {
    push[s].set_worker(client->worker());
    push[s].set_step(step);
    pull_dense[s].set_worker(client->worker());
    pull_rows[s].set_worker(client->worker());
  }
  auto delta = [share](const float* p, const float* b, int64_t n, std::string* out) {
    out->resize(n * sizeof(float));
    float* d = reinterpret_cast<float*>(out->data());
    for (int64_t i = 0; i < n; ++i) d[i] = (p[i] - b[i]) * share;
  };
  for (size_t b = 0; b < layout.id.size(); ++b) {
    const Tensor& p = ctx.input(at.param(static_cast<int>(layout.param[b])));
    const Tensor& base = ctx.input(at.base(static_cast<int>(layout.param[b])));
    const int64_t row = p.numel() / p.dim(0);
    proto::DenseBlock* block = push[layout.server[b]].add_dense();
    block->set_block_id(layout.id[b]);
    delta(RowOf(p, layout.begin[b]), RowOf(base, layout.begin[b]), layout.rows[b] * row,
          block->mutable_values());
    pull_dense[layout.server[b]].add_block_ids(layout.id[b]);
  }
  // Rows by server, in id order (the same rows each exchange, whatever the hash set's order).
  std::vector<std::vector<std::vector<int64_t>>> rows(at.tables,
                                                      std::vector<std::vector<int64_t>>(servers));
  for (int t = 0; t < at.tables; ++t) {
    std::vector<int64_t> ids(state->touched[t].begin(), state->touched[t].end());
    std::sort(ids.begin(), ids.end());
    for (int64_t id : ids) rows[t][ServerOfRow(id, servers)].push_back(id);
    const Tensor& p = ctx.input(at.param(at.dense + t));
    const Tensor& base = ctx.input(at.base(at.dense + t));
    const int64_t dim = p.numel() / p.dim(0);
    for (int s = 0; s < servers; ++s) {
      if (rows[t][s].empty()) continue;
      proto::SparseRows* out = push[s].add_sparse();
      out->set_table_id(table_id[t]);
      out->set_ids(IdBytes(rows[t][s]));
      std::string* values = out->mutable_values();
      values->resize(rows[t][s].size() * dim * sizeof(float));
      float* d = reinterpret_cast<float*>(values->data());
      for (size_t r = 0; r < rows[t][s].size(); ++r) {
        const float* pr = RowOf(p, rows[t][s][r]);
        const float* br = RowOf(base, rows[t][s][r]);
        for (int64_t j = 0; j < dim; ++j) d[r * dim + j] = (pr[j] - br[j]) * share;
      }
      proto::SparseRows* ask = pull_rows[s].add_tables();
      ask->set_table_id(table_id[t]);
      ask->set_ids(out->ids());
      no_rows[s] = false;
    }
  }
  FLEET_RETURN_IF_ERROR(client->Push(push));
  std::vector<proto::PullDenseReply> dense_replies;
  std::vector<proto::PullSparseReply> row_replies;
  FLEET_RETURN_IF_ERROR(client->PullDense(pull_dense, &dense_replies));
  FLEET_RETURN_IF_ERROR(client->PullSparse(pull_rows, no_rows, &row_replies));
  // The servers' values become the parameters and the new bases.
  std::vector<Tensor> fresh(at.params());
  for (int i = 0; i < at.params(); ++i) fresh[i] = ctx.input(at.param(i)).Clone();
  std::map<int64_t, const proto::DenseBlock*> received;
  for (const auto& reply : dense_replies) {
    for (const auto& block : reply.dense()) received[block.block_id()] = &block;
  }
  for (size_t b = 0; b < layout.id.size(); ++b) {
    Tensor& p = fresh[layout.param[b]];
    const size_t want = layout.rows[b] * (p.numel() / p.dim(0)) * sizeof(float);
    auto it = received.find(layout.id[b]);
    if (it == received.end() || it->second->values().size() != want) {
      return ctx.FailedPrecondition(absl::StrCat("parameter server ", layout.server[b],
                                                 " did not send block ", layout.id[b]));
    }
    std::memcpy(RowOf(p, layout.begin[b]), it->second->values().data(), want);
  }
  for (int s = 0; s < servers; ++s) {
    if (no_rows[s]) continue;
    int next = 0;  // the reply's tables follow the request's
    for (int t = 0; t < at.tables; ++t) {
      if (rows[t][s].empty()) continue;
      Tensor& p = fresh[at.dense + t];
      const int64_t dim = p.numel() / p.dim(0);
      const std::string& values =
          next < row_replies[s].tables_size() ? row_replies[s].tables(next).values() : "";
      ++next;
      if (values.size() != rows[t][s].size() * dim * sizeof(float)) {
        return ctx.FailedPrecondition(absl::StrCat("parameter server ", s, " sent ", values.size(),
                                                   " bytes of table ", table_id[t], " rows"));
      }
      for (size_t r = 0; r < rows[t][s].size(); ++r) {
        std::memcpy(RowOf(p, rows[t][s][r]), values.data() + r * dim * sizeof(float),
                    dim * sizeof(float));
      }
    }
  }
  for (auto& touched : state->touched) touched.clear();
  for (int i = 0; i < at.params(); ++i) {
    ctx.SetOutput(at.params() + i, fresh[i].Clone());
    ctx.SetOutput(i, std::move(fresh[i]));
  }
  return absl::OkStatus();
}

}  // namespace fleet::ps
