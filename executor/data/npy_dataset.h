// A dataset stored as a directory of .npy files, one per tensor: `<name>.npy` holds the values
// of the model input (or label) `name` for every record along its first dim. Files are
// memory-mapped; a batch copies only its rows.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "executor/data/reader.h"

namespace fleet {

// Opens `dir`. With `names` empty every *.npy file is a tensor; otherwise exactly those names
// are read (each must exist as `<name>.npy`; other files are ignored). Every array needs
// rank >= 1 and the same first dim, else INVALID_ARGUMENT naming both files and their counts.
absl::StatusOr<std::shared_ptr<const Dataset>> OpenNpyDataset(
    const std::string& dir, const std::vector<std::string>& names = {});

}  // namespace fleet
