// A parameter-server job's trained model as one program: the trainer's forward ops with its
// table lookups turned back into Gathers on whole tables, and the values that a checkpoint's
// servers and trainer hold. fleet-run's --load DIR --export FILE.onnx writes it as ONNX, so a
// parameter-server job ends in an ONNX model like any other.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "executor/scope.h"
#include "ir/job.h"
#include "ir/program.h"

namespace fleet::ps {

struct ExportedModel {
  Program forward;            // the forward program (ForwardProgram of the rebuilt trainer)
  int64_t rows_restored = 0;  // table rows the checkpoint held within the model's tables
  int64_t rows_beyond = 0;    // rows with ids beyond a table's height: an ONNX table has none
};

// Rebuilds the model of `job` (a ps-transpiled job) from checkpoint `dir` (ps/job_checkpoint.h):
// dense parameters from their blocks, tables from the model's initial values with every saved
// row written over its own. `state` receives the values the program reads. Errors name the
// checkpoint file or the op that does not fit.
absl::StatusOr<ExportedModel> ExportJobModel(const Job& job, const std::string& dir, Scope& state);

}  // namespace fleet::ps
