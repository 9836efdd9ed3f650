// NpyDataset: memory-mapped .npy columns; Gather copies the chosen rows of each column.
#include "executor/data/npy_dataset.h"

#include <algorithm>
#include <cstring>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "executor/data/text_lines.h"
#include "executor/npy.h"
#include "ir/status_macros.h"

namespace fleet {
namespace {

class NpyDataset final : public Dataset {
 public:
  struct Column {
    std::string name;
    std::string path;
    Tensor values;  // mapped, first dim = records
  };
  NpyDataset(std::vector<Column> columns, int64_t records)
      : columns_(std::move(columns)), records_(records) {}

  int64_t num_records() const override { return records_; }

  std::vector<std::string> tensor_names() const override {
    std::vector<std::string> names;
    for (const Column& c : columns_) names.push_back(c.name);
    std::sort(names.begin(), names.end());
    return names;
  }

  absl::Status Gather(absl::Span<const int64_t> rows, Batch& batch) const override {
    for (const Column& c : columns_) {
      std::vector<int64_t> shape = c.values.shape();
      shape[0] = static_cast<int64_t>(rows.size());
      Tensor out(c.values.dtype(), shape);
      const size_t row_bytes = c.values.dim(0) == 0 ? 0 : c.values.nbytes() / c.values.dim(0);
      const char* src = static_cast<const char*>(c.values.raw_data());
      char* dst = static_cast<char*>(out.raw_data());
      for (size_t i = 0; i < rows.size(); ++i) {
        if (rows[i] < 0 || rows[i] >= records_) {
          return absl::OutOfRangeError(
              absl::StrCat(c.path, ": record ", rows[i], " is out of range [0, ", records_, ")"));
        }
        std::memcpy(dst + i * row_bytes, src + static_cast<size_t>(rows[i]) * row_bytes, row_bytes);
      }
      batch.tensors[c.name] = std::move(out);
    }
    return absl::OkStatus();
  }

 private:
  std::vector<Column> columns_;
  int64_t records_;
};

}  // namespace

absl::StatusOr<std::shared_ptr<const Dataset>> OpenNpyDataset(
    const std::string& dir, const std::vector<std::string>& names) {
  namespace fs = std::filesystem;
  std::vector<std::string> paths;
  if (names.empty()) {
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) {
      return absl::InvalidArgumentError(
          absl::StrCat(dir, ": expected a directory of .npy files, one per input and label"));
    }
    FLEET_ASSIGN_OR_RETURN(paths, ListDataFiles(dir, {".npy"}));
  } else {
    for (const std::string& name : names) {
      std::string path = (fs::path(dir) / (name + ".npy")).string();
      std::error_code ec;
      if (!fs::is_regular_file(path, ec)) {
        return absl::NotFoundError(
            absl::StrCat(dir, ": no file ", name, ".npy for the tensor '", name, "'"));
      }
      paths.push_back(path);
    }
  }
  std::vector<NpyDataset::Column> columns;
  for (const std::string& path : paths) {
    FLEET_ASSIGN_OR_RETURN(Tensor values, MapNpy(path));
    if (values.rank() < 1) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": holds a scalar ", values.TypeString(),
                                                     "; expected one row per record"));
    }
    const std::string name = fs::path(path).stem().string();
    if (!columns.empty() && values.dim(0) != columns[0].values.dim(0)) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, " holds ", values.dim(0), " records (", values.TypeString(), ") but ",
                       columns[0].path, " holds ", columns[0].values.dim(0), " (",
                       columns[0].values.TypeString(), "); every file needs the same first dim"));
    }
    columns.push_back({name, path, std::move(values)});
  }
  const int64_t records = columns[0].values.dim(0);
  return std::shared_ptr<const Dataset>(std::make_shared<NpyDataset>(std::move(columns), records));
}

}  // namespace fleet
