// The checkpoint of a parameter-server job: one folder holding each server's part
// (pserver.<i>/, runtime/ps/shard_checkpoint.h), the trainer's own state (trainer/, an ordinary
// checkpoint of its program: the step, the learning rate, its copy of the dense parameters) and
// manifest.json ({"format": "fleet.ps_checkpoint", "version": 1, "num_servers": 2,
// "step": 200}). Worker 0 writes it: the servers write their parts into a temporary folder
// beside the target, then the trainer adds its own, and the folder is renamed into place, so a
// crash leaves the previous checkpoint whole.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "executor/scope.h"
#include "executor/training/checkpoint.h"
#include "ir/program.h"
#include "runtime/ps/client.h"
#include "runtime/ps/communicator.h"

namespace fleet::ps {

// True when `dir` holds a parameter-server checkpoint (its manifest says so).
bool IsJobCheckpoint(const std::string& dir);

// Saves the job's checkpoint into `dir` (see above): pushes still queued in `communicator` (may
// be null) are sent first. Refuses to replace a `dir` that is not a checkpoint.
absl::Status SaveJobCheckpoint(PsClient& client, AsyncCommunicator* communicator,
                               const std::string& dir, const Program& trainer, const Scope& state,
                               const CheckpointInfo& info);

// Reads the trainer's part of the checkpoint in `dir` into `state` (the servers read their own
// parts when they start with it).
absl::StatusOr<CheckpointInfo> LoadJobCheckpointTrainer(const std::string& dir,
                                                        const Program& trainer, Scope& state);

}  // namespace fleet::ps
