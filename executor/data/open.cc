// OpenDataset: format detection and dispatch; CheckDatasetProvides: feeds vs data columns.
#include "executor/data/open.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "executor/data/data_files.h"
#include "executor/data/multislot_dataset.h"
#include "executor/data/npy_dataset.h"
#include "executor/data/text_lines.h"
#include "ir/status_macros.h"

namespace fleet {
namespace {

// `files`: the data sources of `spec` (ListDataSources), or its own files.
absl::StatusOr<std::string> DetectFormat(const DataSpec& spec,
                                         const std::vector<std::string>& files) {
  if (files.size() == 1 && IsNpyFolder(files[0])) return std::string("npy");
  if (!spec.slots.empty()) return std::string("multislot");
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
  std::vector<std::string> files = spec.files;
  if (files.empty()) {
    FLEET_ASSIGN_OR_RETURN(files, ListDataSources(spec.path, spec.format));
  }
  std::string format = spec.format;
  if (format == "auto") {
    FLEET_ASSIGN_OR_RETURN(format, DetectFormat(spec, files));
  }
  if (format == "npy") {
    if (files.size() != 1) {
      return absl::InvalidArgumentError(
          absl::StrCat(spec.path, ": npy data is one folder; got ", files.size(), " paths"));
    }
    return OpenNpyDataset(files[0], spec.names);
  }
  if (format == "criteo") return OpenCriteoDataset(files, spec.criteo);
  if (format == "multislot") {
    FLEET_ASSIGN_OR_RETURN(std::vector<MultiSlotSpec> slots, ParseSlotSpecs(spec.slots));
    return OpenMultiSlotDataset(files, slots);
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
