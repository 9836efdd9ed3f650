#include "tools/checkpoint_sync.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "executor/executor.h"
#include "ir/job.h"
#include "ir/status_macros.h"
#include "runtime/collective/communicator.h"

namespace fleet {

CheckpointWriter SyncedCheckpointWriter(const Program& sync, const KernelTable& kernels,
                                        std::shared_ptr<const ExecutionEnv> env, Scope& state,
                                        bool writes, CommunicatorStats* synced) {
  return [&sync, &kernels, env = std::move(env), &state, writes, synced](
             const std::string& dir, const Program& main, const Scope&,
             const CheckpointInfo& info) -> absl::Status {
    const Communicator* comm = env == nullptr ? nullptr : env->Get<Communicator>();
    const CommunicatorStats before = comm != nullptr ? comm->stats() : CommunicatorStats{};
    ExecutorOptions options;
    options.env = env;
    absl::StatusOr<std::unique_ptr<Executor>> executor = Executor::Create(sync, kernels, options);
    absl::Status status = executor.ok() ? (*executor)->Run(state) : executor.status();
    if (comm != nullptr && synced != nullptr) {
      const CommunicatorStats ran = Difference(comm->stats(), before);
      for (int k = 0; k < kNumCollectiveKinds; ++k) {
        synced->kinds[k].calls += ran.kinds[k].calls;
        synced->kinds[k].bytes += ran.kinds[k].bytes;
        synced->kinds[k].busy += ran.kinds[k].busy;
      }
    }
    if (!status.ok()) {
      return absl::Status(status.code(), absl::StrCat(kCheckpointSyncProgram, " (step ", info.step,
                                                      "): ", status.message()));
    }
    if (!writes) return absl::OkStatus();
    return SaveCheckpoint(dir, main, state, info);
  };
}

}  // namespace fleet
