// An index of the non-empty lines of one or more memory-mapped text files, so that text formats
// (Criteo TSV, MultiSlot) give random access to records without holding them parsed in memory:
// 24 bytes per record; a record is parsed when a batch gathers it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "executor/data/mapped_file.h"

namespace fleet {

class TextLines {
 public:
  // Maps and indexes `paths` in order. A trailing '\r' is dropped; empty lines are skipped.
  static absl::StatusOr<TextLines> Open(const std::vector<std::string>& paths);

  int64_t size() const { return static_cast<int64_t>(lines_.size()); }
  // Line `i` (0-based over all non-empty lines), without its line break.
  absl::string_view Line(int64_t i) const;
  // "path:line" (1-based line number in its file) for messages.
  std::string Where(int64_t i) const;

 private:
  struct LineRef {
    int64_t offset;
    int64_t line;  // 1-based
    int32_t length;
    int32_t file;
  };
  std::vector<std::shared_ptr<MappedFile>> files_;
  std::vector<LineRef> lines_;
};

// Lists the regular files of `path`: the path itself when it is a file, else the files in the
// directory (sorted by name, hidden files skipped) whose names end with one of `suffixes` (all
// when empty). INVALID_ARGUMENT when nothing is found.
absl::StatusOr<std::vector<std::string>> ListDataFiles(const std::string& path,
                                                       const std::vector<std::string>& suffixes);

}  // namespace fleet
