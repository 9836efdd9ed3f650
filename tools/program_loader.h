// Loads what a user points a tool at: an ONNX model (imported) or a Fleet program file.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "ir/program.h"

namespace fleet {

// ".onnx" files are imported; other files are Fleet programs, in text form (starting with
// "fleet.program", after any blank or `#` comment lines) or binary.
absl::StatusOr<Program> LoadProgram(const std::string& path);

}  // namespace fleet
