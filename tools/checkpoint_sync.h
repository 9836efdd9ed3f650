// Checkpoints of a data-parallel job whose optimizer state is spread over its workers: in the
// reduce mode each parameter's state is current on its owner only. At every checkpoint each
// worker runs the job's checkpoint_sync program (ir/job.h; broadcasts of each owner's state, in
// the same order on every worker), then the writing worker writes an ordinary checkpoint, which
// therefore holds every parameter's current state. `--load` of it restores every worker: each
// loads all the state, and the owners use theirs.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "executor/execution_env.h"
#include "executor/kernel.h"
#include "executor/scope.h"
#include "executor/training/checkpoint.h"
#include "ir/program.h"
#include "runtime/collective/collective_stats.h"

namespace fleet {

using CheckpointWriter = std::function<absl::Status(
    const std::string& dir, const Program& main, const Scope& state, const CheckpointInfo& info)>;

// TrainOptions::save_checkpoint for one worker: runs `sync` in `state` (with the worker's `env`,
// where the broadcasts find its communicator), then, when `writes`, SaveCheckpoint. Every worker
// must get one with the same save steps, since each takes part in the broadcasts. The
// collectives the syncs ran are added to `*synced` (may be null), so that they are not taken for
// the training steps'. `sync`, `kernels`, `state` and `synced` are kept by reference and must
// outlive the training run; the writer is called on the training thread. Errors of the sync are
// prefixed with the program's name.
CheckpointWriter SyncedCheckpointWriter(const Program& sync, const KernelTable& kernels,
                                        std::shared_ptr<const ExecutionEnv> env, Scope& state,
                                        bool writes, CommunicatorStats* synced);

}  // namespace fleet
