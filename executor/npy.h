// Reading and writing NumPy .npy files (format versions 1.0-3.0, little-endian, C order).
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "executor/tensor.h"

namespace fleet {

// Reads an .npy file into a new tensor. Errors name the file and what is wrong (not an .npy
// file, Fortran order, an element type Fleet lacks, a truncated payload).
absl::StatusOr<Tensor> ReadNpy(const std::string& path);

// Parses .npy bytes already in memory; `source` names them in messages.
absl::StatusOr<Tensor> ParseNpy(const std::string& bytes, const std::string& source);

// What an .npy header says: element type, shape and where the C-ordered data starts.
struct NpyHeader {
  DataType dtype = DataType::kUndefined;
  std::vector<int64_t> shape;
  size_t data_offset = 0;  // bytes from the start of the file
  size_t data_bytes = 0;   // numel * element size
};

// Parses the header of the .npy bytes [data, data + size) and checks that the payload fits.
absl::StatusOr<NpyHeader> ParseNpyHeader(const char* data, size_t size, const std::string& source);

// Memory-maps an .npy file: the tensor views the mapped pages (copy-on-write, so writes never
// reach the file) and keeps the mapping alive as long as any view of it exists. The data is as
// aligned as the file puts it (NumPy pads headers to 64 bytes; older writers to 16).
absl::StatusOr<Tensor> MapNpy(const std::string& path);

// Writes `tensor` as a version 1.0 .npy file (atomically: a temporary file, then rename).
absl::Status WriteNpy(const std::string& path, const Tensor& tensor);

}  // namespace fleet
