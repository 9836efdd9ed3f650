// Pieces the parameter-server kernels share (runtime/ps/*_kernel*.cc): how a kernel finds the
// worker's client, reads ids and steps, groups rows by server and reads the dense blocks'
// layout (ir/fleet_ps_ops.cc). Internal to runtime/ps.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "executor/kernel.h"
#include "runtime/ps/client.h"
#include "runtime/ps/sharding.h"

namespace fleet::ps {

// The worker's client from the kernel's environment, or FAILED_PRECONDITION saying why not.
absl::StatusOr<PsClient*> FindClient(const KernelContext& ctx);
// An id tensor's elements as i64 (i32 ids widen).
absl::StatusOr<std::vector<int64_t>> IdsOf(const KernelContext& ctx, int input);
// Ids as the wire carries them.
std::string IdBytes(const std::vector<int64_t>& ids);
// Input `input` as a step number (i64[1]).
absl::StatusOr<int64_t> StepOf(const KernelContext& ctx, int input);
// table_id and table_dim agree in length and widths are >= 1.
absl::Status CheckTableAttrs(const KernelContext& ctx, const std::vector<int64_t>& table_id,
                             const std::vector<int64_t>& table_dim);

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
      const int server = ServerOfRow(id, static_cast<int>(per_server_.size()));
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

// The block layout of ps_push and ps_pull_dense.
struct BlockLayout {
  std::vector<int64_t> id, param, begin, rows, server;
  int num_params = 0;

  // Reads the block attributes; INVALID_ARGUMENT when they disagree or name a server beyond
  // `num_servers`.
  static absl::StatusOr<BlockLayout> Of(const KernelContext& ctx, int num_servers);
};

// The kernels (registered by RegisterParameterServerKernels).
absl::Status PullSparseKernel(KernelContext& ctx);
absl::Status PushKernel(KernelContext& ctx);
absl::Status PullDenseKernel(KernelContext& ctx);
absl::Status ServeKernel(KernelContext& ctx);
absl::Status GeoSyncKernel(KernelContext& ctx);

}  // namespace fleet::ps
