// fleet.ps_serve: a parameter server's run (runtime/ps/register.h; op contract in
// ir/fleet_ps_ops.cc).
#include <algorithm>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "executor/sub_block.h"
#include "ir/status_macros.h"
#include "runtime/ps/kernel_support.h"
#include "runtime/ps/register.h"
#include "runtime/ps/server_core.h"
#include "runtime/ps/service.h"
#include "runtime/ps/shard_checkpoint.h"

namespace fleet::ps {
namespace {

// The update rule of a server program: its `update` block, one run at a time.
class SubBlockRule final : public UpdateRule {
 public:
  SubBlockRule(SubBlocks* blocks, int num_states) : blocks_(blocks), num_states_(num_states) {}

  absl::Status Apply(int64_t step, UpdateTensors& t) override {
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

}  // namespace

absl::Status ServeKernel(KernelContext& ctx) {
  const ServeConfig* config = ctx.env().Get<ServeConfig>();
  if (config == nullptr) {
    return ctx.FailedPrecondition(
        "no server configuration in the execution environment (hint: Fleet::InitServer "
        "installs one; run server programs with fleet-run)");
  }
  if (ctx.sub_blocks() == nullptr) return ctx.FailedPrecondition("the op has no update block");
  absl::StatusOr<SyncMode> mode = ParseSyncMode(ctx.GetString("mode", "sync"));
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
  absl::StatusOr<RowInit> row_init = RowInit::Parse(ctx.GetString("row_init", "zeros"));
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
  std::vector<DenseBlockSpec> block_specs(blocks);
  for (int b = 0; b < blocks; ++b) {
    block_specs[b].block_id = block_id[b];
    block_specs[b].value = ctx.input(b).Clone();
    for (int s = 0; s < k; ++s)
      block_specs[b].states.push_back(ctx.input(blocks + b * k + s).Clone());
  }
  const int tables_at = blocks * (1 + k);
  std::vector<SparseTableSpec> table_specs(tables);
  for (int t = 0; t < tables; ++t) {
    SparseTableSpec& spec = table_specs[t];
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
  ServerCoreOptions options;
  options.server = config->server;
  options.num_servers = config->num_servers;
  options.num_workers = config->num_workers;
  options.mode = *mode;
  options.heartbeat_timeout = config->heartbeat_timeout;
  absl::StatusOr<std::unique_ptr<ServerCore>> core =
      ServerCore::Create(options, std::move(block_specs), std::move(table_specs), &rule);
  if (!core.ok()) return ctx.InvalidArgument(std::string(core.status().message()));
  if (!config->load_dir.empty()) {
    absl::StatusOr<ServerCore::Contents> saved = ReadShard(
        ShardFolder(config->load_dir, config->server), config->server, config->num_servers);
    if (!saved.ok()) return saved.status();
    absl::Status loaded = (*core)->Import(*saved);
    if (!loaded.ok()) {
      return absl::Status(loaded.code(), absl::StrCat(ShardFolder(config->load_dir, config->server),
                                                      ": ", loaded.message()));
    }
  }
  absl::StatusOr<std::unique_ptr<PsService>> service =
      PsService::Start(config->endpoint, core->get());
  if (!service.ok()) return service.status();
  if (config->on_listening) config->on_listening((*service)->port());
  absl::Status served = (*core)->WaitUntilWorkersDone();
  (*service)->Shutdown(absl::Seconds(2));
  if (config->on_finished) {
    ServeReport report;
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

}  // namespace fleet::ps
