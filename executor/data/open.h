// Picks and opens the dataset for a data argument (what `fleet-run --data` takes: a file, a
// folder, or a comma-separated list of them; data_files.h), and checks that it provides the
// tensors a program feeds.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "executor/data/criteo_dataset.h"
#include "executor/data/reader.h"

namespace fleet {

struct DataSpec {
  std::string path;
  // When set, the text files to read instead of those `path` names (a worker's share of them,
  // ShardFiles); `path` still names the data in messages.
  std::vector<std::string> files;
  // "npy" (a directory of .npy files), "criteo" (TSV), "multislot" (needs `slots`), or "auto":
  // npy for a directory holding .npy files, multislot when `slots` is set, criteo when the first
  // file's first line has 39 or 40 tab-separated fields.
  std::string format = "auto";
  // npy: read exactly these tensors (the program's feeds); empty reads every file.
  std::vector<std::string> names;
  CriteoOptions criteo;
  // multislot: the slot config (see multislot_dataset.h).
  std::string slots;
};

absl::StatusOr<std::shared_ptr<const Dataset>> OpenDataset(const DataSpec& spec);

// INVALID_ARGUMENT unless `dataset` yields every name in `feeds`; the message lists the missing
// ones and what the data has.
absl::Status CheckDatasetProvides(const Dataset& dataset, const std::string& path,
                                  const std::vector<std::string>& feeds);

}  // namespace fleet
