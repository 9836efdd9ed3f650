// Reading and writing NumPy .npy files (format versions 1.0-3.0, little-endian, C order).
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "executor/tensor.h"

namespace fleet {

// Reads an .npy file into a new tensor. Errors name the file and what is wrong (not an .npy
// file, Fortran order, an element type Fleet lacks, a truncated payload).
absl::StatusOr<Tensor> ReadNpy(const std::string& path);

// Parses .npy bytes already in memory; `source` names them in messages.
absl::StatusOr<Tensor> ParseNpy(const std::string& bytes, const std::string& source);

// Writes `tensor` as a version 1.0 .npy file (atomically: a temporary file, then rename).
absl::Status WriteNpy(const std::string& path, const Tensor& tensor);

}  // namespace fleet
