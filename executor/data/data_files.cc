// ListDataSources: a data argument to its files; ShardFiles: a worker's share of them.
#include "executor/data/data_files.h"

#include <algorithm>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "executor/data/text_lines.h"
#include "ir/status_macros.h"

namespace fleet {
namespace {

// Files a log line names before it says how many more there are.
constexpr size_t kFilesNamed = 8;

}  // namespace

bool IsNpyFolder(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(path, ec)) return false;
  for (const fs::directory_entry& e : fs::directory_iterator(path, ec)) {
    if (e.path().extension() == ".npy") return true;
  }
  return false;
}

absl::StatusOr<std::vector<std::string>> ListDataSources(const std::string& data,
                                                         const std::string& format) {
  const std::vector<std::string> entries = absl::StrSplit(data, ',');
  const bool list = entries.size() > 1;
  std::vector<std::string> sources;
  for (const std::string& entry : entries) {
    if (entry.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--data \"", data,
                       "\": an empty entry; expected a comma-separated list of files or folders"));
    }
    if (format == "npy" || (format == "auto" && IsNpyFolder(entry))) {
      if (list) {
        return absl::InvalidArgumentError(absl::StrCat(
            "--data \"", data, "\": ", entry,
            " is a folder of .npy files, which is one data source of its own; a list names "
            "text files (Criteo, MultiSlot) (hint: give the npy folder alone)"));
      }
      sources.push_back(entry);
      continue;
    }
    FLEET_ASSIGN_OR_RETURN(std::vector<std::string> files, ListDataFiles(entry, {}));
    sources.insert(sources.end(), files.begin(), files.end());
  }
  return sources;
}

absl::StatusOr<FileShard> ShardFiles(const std::vector<std::string>& files, int worker,
                                     int num_workers) {
  if (num_workers < 1 || worker < 0 || worker >= num_workers) {
    return absl::InvalidArgumentError(
        absl::StrCat("worker ", worker, " of ", num_workers, ": expected 0 <= worker < workers"));
  }
  const int64_t n = static_cast<int64_t>(files.size());
  if (n < num_workers) {
    return absl::InvalidArgumentError(absl::StrCat(
        "worker ", worker, " of ", num_workers, ": the data has ", n, " files for ", num_workers,
        " workers; expected at least one file per worker, as file j goes to worker j mod ",
        num_workers, " (hint: split the data into at least ", num_workers,
        " files, or give one file, which the workers share record by record)"));
  }
  FileShard shard;
  for (int64_t j = worker; j < n; j += num_workers) shard.files.push_back(files[j]);
  const size_t shown = std::min(shard.files.size(), kFilesNamed);
  std::vector<std::string> names(shard.files.begin(), shard.files.begin() + shown);
  shard.description =
      absl::StrCat("worker ", worker, " of ", num_workers, " reads ", shard.files.size(), " of ", n,
                   " files: ", absl::StrJoin(names, ", "));
  if (shown < shard.files.size()) {
    absl::StrAppend(&shard.description, " ... and ", shard.files.size() - shown, " more");
  }
  return shard;
}

}  // namespace fleet
