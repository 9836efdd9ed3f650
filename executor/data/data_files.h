// What a data argument (`fleet-run --data`) names, and which of its files a worker reads.
//
// A data argument is a file, a folder, or a comma-separated list of files and folders:
//   train.tsv                      one file
//   days/                          a folder of .npy files (one data source, npy_dataset.h), or
//                                  else a folder standing for its files (sorted by name)
//   day_0.tsv,day_1.tsv,more/      the files in that order, each folder expanded
// A parameter-server worker of n reads whole files when there are several (file j goes to
// worker j mod n, so no file is opened twice); one data source is sharded by record instead
// (ReaderOptions::num_shards).
//
// Thread safety: plain functions.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace fleet {

// True when `path` is a folder holding at least one .npy file.
bool IsNpyFolder(const std::string& path);

// The data sources `data` names, in order: the folder itself for an npy folder (`format` "npy",
// or "auto" and IsNpyFolder), else every file, folders expanded by ListDataFiles. NOT_FOUND
// naming a missing entry; INVALID_ARGUMENT for an empty entry ("a,,b"), an empty folder, or an
// npy folder in a list (a list holds text files).
absl::StatusOr<std::vector<std::string>> ListDataSources(const std::string& data,
                                                         const std::string& format = "auto");

// The files worker `worker` of `num_workers` reads: files j with j mod num_workers == worker,
// in order, and a line for its log:
//   "worker 1 of 2 reads 3 of 6 files: b.tsv, d.tsv, f.tsv"
// (paths as given; more than 8 are cut short with "... and N more").
struct FileShard {
  std::vector<std::string> files;
  std::string description;
};

// INVALID_ARGUMENT when there are fewer files than workers (some worker would have none) or
// `worker` is not in [0, num_workers).
absl::StatusOr<FileShard> ShardFiles(const std::vector<std::string>& files, int worker,
                                     int num_workers);

}  // namespace fleet
