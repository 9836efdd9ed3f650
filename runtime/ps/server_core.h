// What a parameter server does with requests, apart from the network: it owns the dense blocks
// and table shards of one server, checks every request (a bad one gets a status and changes
// nothing), merges the workers' gradients and applies the update rule.
//
// Sync mode: a step's gradients are summed over the workers that pushed that step and divided by
// their number before one update, as one process with the combined batch would do. A step is
// applied when every live worker (not done, not lost) has pushed it; PullDense with
// wait_for_step waits for that. Steps are numbered by the workers' global step, so a late or
// repeated push can never complete the wrong step (a repeated push of the same step by the same
// worker is acknowledged and ignored: a retry).
// Async and half-async modes: each push is applied as it comes, without waiting for anyone.
//
// Workers are presumed lost when nothing came from them for `heartbeat_timeout` (their client
// sends heartbeats). In sync mode a lost worker fails the job: waiting pulls return an error
// naming it. In the other modes the others go on. The server's work ends when every worker is
// done or lost.
//
// Thread-safe: the network layer calls it from many threads.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "executor/tensor.h"
#include "runtime/ps/ps.pb.h"
#include "runtime/ps/sparse_table.h"
#include "runtime/ps/update_rule.h"

namespace fleet::ps {

enum class SyncMode { kSync, kAsync, kHalfAsync, kGeo };
// "sync", "async", "half_async", "geo"; INVALID_ARGUMENT quoting anything else.
absl::StatusOr<SyncMode> ParseSyncMode(std::string_view mode);
std::string_view SyncModeName(SyncMode mode);

struct DenseBlockSpec {
  int64_t block_id = 0;
  Tensor value;                // f32, the block's rows
  std::vector<Tensor> states;  // the update rule's states for this block, in its order
};

struct ServerCoreOptions {
  int server = 0;
  int num_servers = 1;
  int num_workers = 1;
  SyncMode mode = SyncMode::kSync;
  absl::Duration heartbeat_timeout = absl::Seconds(60);
};

class ServerCore {
 public:
  // INVALID_ARGUMENT for repeated block or table ids, non-f32 blocks, or bad counts.
  static absl::StatusOr<std::unique_ptr<ServerCore>> Create(ServerCoreOptions options,
                                                            std::vector<DenseBlockSpec> blocks,
                                                            std::vector<SparseTableSpec> tables,
                                                            UpdateRule* rule);
  ~ServerCore();

  const ServerCoreOptions& options() const { return options_; }

  absl::Status Push(const proto::PushRequest& request);
  // Waits at most until `deadline` for the step (sync mode, wait_for_step).
  absl::Status PullDense(const proto::PullDenseRequest& request, proto::PullDenseReply* reply,
                         absl::Time deadline);
  absl::Status PullSparse(const proto::PullSparseRequest& request, proto::PullSparseReply* reply);
  absl::Status Control(const proto::ControlRequest& request, proto::ControlReply* reply);

  // Blocks until every worker is done or lost (checking heartbeats meanwhile), or Stop() was
  // called. OK, or the error that ended the job (a lost worker in sync mode).
  absl::Status WaitUntilWorkersDone();
  // Ends WaitUntilWorkersDone and fails every waiting pull with CANCELLED.
  void Stop();
  // Workers presumed lost so far ("worker 1: nothing for 30 s").
  std::vector<std::string> LostWorkers() const;

  // The blocks' and tables' values now, for the serve op's outputs: per block its value and
  // states; per table its whole states.
  void Snapshot(std::vector<Tensor>* block_values, std::vector<std::vector<Tensor>>* block_states,
                std::vector<std::vector<Tensor>>* table_whole_states) const;
  // Everything a checkpoint of this server holds (runtime/ps/shard_checkpoint.h): per block
  // its value, states and update count; per table its contents; the last sync step applied.
  struct BlockContents {
    int64_t block_id = 0;
    Tensor value;
    std::vector<Tensor> states;
    int64_t updates = 0;
  };
  struct Contents {
    std::vector<BlockContents> blocks;                              // in block id order
    std::vector<std::pair<int64_t, SparseTable::Contents>> tables;  // (table id, ...), in order
    int64_t applied_step = -1;
  };
  // A consistent copy: no sync step is applied while it is taken.
  Contents Export() const;
  // Restores `contents` (the same blocks and tables, checked before anything changes).
  // INVALID_ARGUMENT naming the block or table that does not fit.
  absl::Status Import(const Contents& contents);

  // Rows held by the tables, and their bytes.
  int64_t sparse_rows() const;
  int64_t sparse_bytes() const;

 private:
  struct Block;
  struct StepSums;
  ServerCore(ServerCoreOptions options, UpdateRule* rule);

  absl::Status CheckWorker(int worker) const;
  void SeenLocked(int worker);
  absl::Status ApplyBlock(Block& block, const float* grad);
  absl::Status ApplySparse(int64_t table_id, const std::vector<int64_t>& ids,
                           const std::vector<float>& grads);
  absl::Status ApplyAsync(const proto::PushRequest& request);
  absl::Status AddToStepLocked(const proto::PushRequest& request);
  absl::Status ApplyStepLocked();
  int LiveWorkersLocked() const;
  void CheckHeartbeatsLocked();
  absl::Status ValidatePush(const proto::PushRequest& request) const;

  ServerCoreOptions options_;
  UpdateRule* rule_;
  std::map<int64_t, std::unique_ptr<Block>> blocks_;
  std::map<int64_t, std::unique_ptr<SparseTable>> tables_;

  mutable std::mutex mu_;  // everything below
  std::condition_variable changed_;
  std::vector<bool> done_;
  std::vector<bool> lost_;
  std::vector<absl::Time> last_seen_;
  std::vector<std::string> lost_messages_;
  bool stopped_ = false;
  absl::Status failure_;  // set once the job failed (sync mode: a lost worker)
  // Sync mode: the step being collected (-1: none yet), the workers that pushed it, its sums,
  // and the last step applied.
  int64_t collecting_step_ = -1;
  std::vector<bool> pushed_;
  std::unique_ptr<StepSums> sums_;
  int64_t applied_step_ = -1;
  std::vector<int64_t> last_pushed_step_;  // per worker (-1: none), to acknowledge retries
};

}  // namespace fleet::ps
