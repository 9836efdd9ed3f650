// The passes tools run on a program before inference (fleet-run --infer, the benchmarks).
#pragma once

#include "absl/status/status.h"
#include "ir/program.h"

namespace fleet {

// The pipeline, by pass name: fold BatchNormalization into Conv, then drop what became dead.
inline constexpr char kInferencePipeline[] = "fold-batchnorm,dce";

// Runs kInferencePipeline on `program` (verified after every pass).
absl::Status OptimizeForInference(Program& program);

}  // namespace fleet
