// OpenDataset: format detection and dispatch; CheckDatasetProvides: feeds vs data columns.
#include "executor/data/open.h"

#include <algorithm>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "executor/data/multislot_dataset.h"
#include "executor/data/npy_dataset.h"
#include "executor/data/text_lines.h"
#include "ir/status_macros.h"

namespace fleet {
namespace {

absl::StatusOr<std::string> DetectFormat(const DataSpec& spec) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::is_directory(spec.path, ec)) {
    for (const fs::directory_entry& e : fs::directory_iterator(spec.path, ec)) {
      if (e.path().extension() == ".npy") return std::string("npy");
    }
  }
  if (!spec.slots.empty()) return std::string("multislot");
  FLEET_ASSIGN_OR_RETURN(std::vector<std::string> files, ListDataFiles(spec.path, {}));
  FLEET_ASSIGN_OR_RETURN(TextLines lines, TextLines::Open({files[0]}));
  if (lines.size() > 0) {
    absl::string_view first = lines.Line(0);
    const int64_t fields = 1 + std::count(first.begin(), first.end(), '\t');
    if (fields == 40 || fields == 39) return std::string("criteo");
  }
  return absl::InvalidArgumentError(
      absl::StrCat(spec.path,
                   ": cannot tell the data format (not a directory of .npy files, no slot config, "
                   "and ",
                   files[0],
                   " does not start with a Criteo line of 39 or 40 tab-separated "
                   "fields); name the format"));
}

}  // namespace

absl::StatusOr<std::shared_ptr<const Dataset>> OpenDataset(const DataSpec& spec) {
  std::string format = spec.format;
  if (format == "auto") {
    FLEET_ASSIGN_OR_RETURN(format, DetectFormat(spec));
  }
  if (format == "npy") return OpenNpyDataset(spec.path, spec.names);
  if (format == "criteo") return OpenCriteoDataset(spec.path, spec.criteo);
  if (format == "multislot") {
    FLEET_ASSIGN_OR_RETURN(std::vector<MultiSlotSpec> slots, ParseSlotSpecs(spec.slots));
    return OpenMultiSlotDataset(spec.path, slots);
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown data format '", format, "'; expected auto, npy, criteo or multislot"));
}

absl::Status CheckDatasetProvides(const Dataset& dataset, const std::string& path,
                                  const std::vector<std::string>& feeds) {
  const std::vector<std::string> have = dataset.tensor_names();
  std::vector<std::string> missing;
  for (const std::string& f : feeds) {
    if (!std::binary_search(have.begin(), have.end(), f)) missing.push_back(f);
  }
  if (missing.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat(path, ": the data has no tensor ", absl::StrJoin(missing, ", "),
                   " that the program feeds; it has ", absl::StrJoin(have, ", ")));
}

}  // namespace fleet
