// CriteoDataset: indexes the lines of Criteo TSV files and parses the gathered ones.
#include "executor/data/criteo_dataset.h"

#include <algorithm>
#include <charconv>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "executor/data/text_lines.h"
#include "ir/status_macros.h"

namespace fleet {
namespace {

uint64_t SplitMix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// "'abc' " for messages, cut short when long.
std::string Quoted(absl::string_view s) {
  if (s.size() > 24) return absl::StrCat("'", s.substr(0, 24), "...'");
  return absl::StrCat("'", s, "'");
}

class CriteoDataset final : public Dataset {
 public:
  CriteoDataset(TextLines lines, CriteoOptions options)
      : lines_(std::move(lines)), options_(std::move(options)) {}

  int64_t num_records() const override { return lines_.size(); }

  std::vector<std::string> tensor_names() const override {
    std::vector<std::string> names = options_.sparse_names;
    names.push_back(options_.dense_name);
    if (!options_.label_name.empty()) names.push_back(options_.label_name);
    std::sort(names.begin(), names.end());
    return names;
  }

  absl::Status Gather(absl::Span<const int64_t> rows, Batch& batch) const override {
    const int64_t b = static_cast<int64_t>(rows.size());
    Tensor dense(DataType::kF32, {b, kCriteoDense});
    std::vector<Tensor> sparse;
    std::vector<int64_t*> ids;
    sparse.reserve(kCriteoSparse);
    ids.reserve(kCriteoSparse);
    for (int s = 0; s < kCriteoSparse; ++s) {
      sparse.emplace_back(DataType::kI64, std::vector<int64_t>{b});
      ids.push_back(sparse.back().data<int64_t>());
    }
    const bool has_label = !options_.label_name.empty();
    Tensor label;
    if (has_label) label = Tensor(options_.label_dtype, {b});
    for (int64_t i = 0; i < b; ++i) {
      const int64_t row = rows[static_cast<size_t>(i)];
      if (row < 0 || row >= lines_.size()) {
        return absl::OutOfRangeError(
            absl::StrCat("criteo: record ", row, " is out of range [0, ", lines_.size(), ")"));
      }
      int label_value = 0;
      FLEET_RETURN_IF_ERROR(
          ParseRecord(row, &label_value, dense.data<float>() + i * kCriteoDense, ids.data(), i));
      if (has_label) {
        if (options_.label_dtype == DataType::kI64) {
          label.data<int64_t>()[i] = label_value;
        } else {
          label.data<float>()[i] = static_cast<float>(label_value);
        }
      }
    }
    batch.tensors[options_.dense_name] = std::move(dense);
    for (int s = 0; s < kCriteoSparse; ++s) {
      const size_t k = static_cast<size_t>(s);
      batch.tensors[options_.sparse_names[k]] = std::move(sparse[k]);
    }
    if (has_label) batch.tensors[options_.label_name] = std::move(label);
    return absl::OkStatus();
  }

 private:
  absl::Status ParseRecord(int64_t row, int* label, float* dense, int64_t* const* ids,
                           int64_t i) const {
    const absl::string_view line = lines_.Line(row);
    const bool has_label = !options_.label_name.empty();
    const int expected = kCriteoDense + kCriteoSparse + (has_label ? 1 : 0);
    auto bad = [&](const std::string& what) {
      return absl::InvalidArgumentError(absl::StrCat(lines_.Where(row), ": ", what));
    };
    const int64_t fields = 1 + static_cast<int64_t>(std::count(line.begin(), line.end(), '\t'));
    if (fields != expected) {
      return bad(absl::StrCat("has ", fields, " tab-separated fields; expected ", expected, " (",
                              has_label ? "label, " : "", "13 integer, 26 categorical)"));
    }
    size_t pos = 0;
    for (int field = 0; field < expected; ++field) {
      const size_t tab = std::min(line.find('\t', pos), line.size());
      const absl::string_view text = line.substr(pos, tab - pos);
      pos = tab + 1;
      const int f = has_label ? field : field + 1;  // 0 = label, 1..13 dense, 14..39 sparse
      const char* first = text.data();
      const char* last = text.data() + text.size();
      if (f == 0) {
        if (text != "0" && text != "1") {
          return bad(absl::StrCat("label is ", Quoted(text), "; expected 0 or 1"));
        }
        *label = text[0] - '0';
      } else if (f <= kCriteoDense) {
        float v = 0.0f;
        if (!text.empty()) {
          int64_t x = 0;
          auto [end, ec] = std::from_chars(first, last, x);
          if (ec != std::errc() || end != last) {
            return bad(absl::StrCat("integer feature I", f, " is ", Quoted(text),
                                    "; expected a decimal integer or nothing"));
          }
          if (x > 0) v = static_cast<float>(std::log1p(static_cast<double>(x)));
        }
        dense[f - 1] = v;
      } else {
        const int slot = f - kCriteoDense;
        int64_t id = 0;
        if (!text.empty()) {
          uint64_t x = 0;
          auto [end, ec] = std::from_chars(first, last, x, 16);
          if (ec != std::errc() || end != last || text.size() > 16) {
            return bad(absl::StrCat("categorical feature C", slot, " is ", Quoted(text),
                                    "; expected up to 16 hex digits or nothing"));
          }
          id = CriteoHashId(slot, x, options_.table_size);
        }
        ids[slot - 1][i] = id;
      }
    }
    return absl::OkStatus();
  }

  TextLines lines_;
  CriteoOptions options_;
};

}  // namespace

int64_t CriteoHashId(int slot, uint64_t value, int64_t table_size) {
  const uint64_t h = SplitMix64(value ^ SplitMix64(static_cast<uint64_t>(slot)));
  return 1 + static_cast<int64_t>(h % static_cast<uint64_t>(table_size - 1));
}

absl::StatusOr<std::shared_ptr<const Dataset>> OpenCriteoDataset(const std::string& path,
                                                                 const CriteoOptions& options) {
  FLEET_ASSIGN_OR_RETURN(std::vector<std::string> files, ListDataFiles(path, {}));
  return OpenCriteoDataset(files, options);
}

absl::StatusOr<std::shared_ptr<const Dataset>> OpenCriteoDataset(
    const std::vector<std::string>& files, const CriteoOptions& options) {
  CriteoOptions opts = options;
  if (opts.table_size < 2) {
    return absl::InvalidArgumentError(absl::StrCat(
        "criteo: table size ", opts.table_size, "; expected >= 2 (id 0 is reserved for missing)"));
  }
  if (opts.label_dtype != DataType::kF32 && opts.label_dtype != DataType::kI64) {
    return absl::InvalidArgumentError(absl::StrCat(
        "criteo: label type ", DataTypeName(opts.label_dtype), "; expected f32 or i64"));
  }
  if (opts.sparse_names.empty()) {
    for (int s = 1; s <= kCriteoSparse; ++s) opts.sparse_names.push_back(absl::StrCat("C", s));
  }
  if (opts.sparse_names.size() != kCriteoSparse) {
    return absl::InvalidArgumentError(
        absl::StrCat("criteo: ", opts.sparse_names.size(), " categorical names; expected 26"));
  }
  FLEET_ASSIGN_OR_RETURN(TextLines lines, TextLines::Open(files));
  return std::shared_ptr<const Dataset>(
      std::make_shared<CriteoDataset>(std::move(lines), std::move(opts)));
}

}  // namespace fleet
