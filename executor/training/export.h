// The inference program of a trained program, for export (fleet-run --export trained.onnx):
//
//   forward ops + loss ops + backward ops + optimizer ops, label feed, loss fetch
//     ==>  forward ops only, the model's feeds and outputs, the trained values
#pragma once

#include "absl/status/statusor.h"
#include "executor/scope.h"
#include "ir/program.h"

namespace fleet {

// Block 0 of `main` keeping only the ops with the forward role (no loss, backward, optimizer or
// learning-rate ops) and the vars they use; feeds no kept op reads (the label) are dropped, and
// so are fetches no kept op writes (the loss). Persistable vars the kept ops read take their
// values from `state` (the trained parameters). FAILED_PRECONDITION naming the var when `state`
// lacks one; INVALID_ARGUMENT when no forward op is left.
absl::StatusOr<Program> ForwardProgram(const Program& main, const Scope& state);

}  // namespace fleet
