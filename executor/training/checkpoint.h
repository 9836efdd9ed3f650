// Training checkpoints: every persistable var of a program (parameters, optimizer state, the
// learning rate, step counters) as one .npy file each, plus manifest.json:
//
//   {"format": "fleet.checkpoint", "version": 1, "step": 200, "epoch": 1,
//    "fingerprint": "5f0c...", "vars": [{"name": "w", "file": "w.npy", "dtype": "f32",
//    "shape": [3, 1]}, ...]}
//
// The fingerprint hashes the names, dtypes and shapes of the main block's vars, so a checkpoint
// only loads into the program it was saved from. Saving writes a temporary folder beside the
// target and renames it into place: a crash leaves the previous checkpoint intact, and an
// existing folder is replaced only once the new one is complete.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "executor/scope.h"
#include "ir/program.h"

namespace fleet {

struct CheckpointInfo {
  int64_t step = 0;  // training steps taken when it was saved
  int epoch = 0;     // 0-based epoch the last step belonged to
  std::string fingerprint;
};

// 16 hex digits over block 0's vars (name, dtype, shape; in name order).
std::string ProgramFingerprint(const Program& program);

// The vars a checkpoint of `program` holds: block 0's persistable vars that are not fed, sorted.
std::vector<std::string> CheckpointVars(const Program& program);

// Writes the CheckpointVars of `program`, read from `scope`, to `dir` (see above). `info`'s
// fingerprint is ignored: the program's own is recorded. Refuses to replace an existing `dir`
// that is not a checkpoint. A var without a tensor in `scope` is FAILED_PRECONDITION.
absl::Status SaveCheckpoint(const std::string& dir, const Program& program, const Scope& scope,
                            const CheckpointInfo& info);

// Reads the checkpoint in `dir` into `scope` (only once every var has been read and checked, so
// a failure leaves `scope` untouched). INVALID_ARGUMENT naming the var when the checkpoint lacks
// a var of the program, holds one the program does not have, or a var's dtype or shape differs;
// then when the fingerprints differ. NOT_FOUND when `dir` has no manifest.
absl::StatusOr<CheckpointInfo> LoadCheckpoint(const std::string& dir, const Program& program,
                                              Scope& scope);

}  // namespace fleet
