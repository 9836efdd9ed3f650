// MultiSlotDataset: indexes MultiSlot text lines and parses the gathered ones slot by slot.
#include "executor/data/multislot_dataset.h"

#include <algorithm>
#include <charconv>
#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "executor/data/text_lines.h"
#include "ir/status_macros.h"

namespace fleet {
namespace {

// Splits off the next whitespace-separated token of `rest`; empty at the end.
absl::string_view NextToken(absl::string_view& rest) {
  size_t b = 0;
  while (b < rest.size() && (rest[b] == ' ' || rest[b] == '\t')) ++b;
  size_t e = b;
  while (e < rest.size() && rest[e] != ' ' && rest[e] != '\t') ++e;
  absl::string_view token = rest.substr(b, e - b);
  rest.remove_prefix(e);
  return token;
}

std::string Quoted(absl::string_view s) {
  if (s.size() > 24) return absl::StrCat("'", s.substr(0, 24), "...'");
  return absl::StrCat("'", s, "'");
}

class MultiSlotDataset final : public Dataset {
 public:
  MultiSlotDataset(TextLines lines, std::vector<MultiSlotSpec> slots)
      : lines_(std::move(lines)), slots_(std::move(slots)) {}

  int64_t num_records() const override { return lines_.size(); }

  std::vector<std::string> tensor_names() const override {
    std::vector<std::string> names;
    for (const MultiSlotSpec& s : slots_) {
      names.push_back(s.name);
      if (s.dim < 0) names.push_back(s.name + ".lengths");
    }
    std::sort(names.begin(), names.end());
    return names;
  }

  absl::Status Gather(absl::Span<const int64_t> rows, Batch& batch) const override {
    const size_t n = slots_.size();
    std::vector<std::vector<float>> floats(n);
    std::vector<std::vector<int64_t>> ints(n);
    std::vector<std::vector<int64_t>> lengths(n);
    for (int64_t row : rows) {
      if (row < 0 || row >= lines_.size()) {
        return absl::OutOfRangeError(
            absl::StrCat("multislot: record ", row, " is out of range [0, ", lines_.size(), ")"));
      }
      absl::string_view rest = lines_.Line(row);
      auto bad = [&](const std::string& what) {
        return absl::InvalidArgumentError(absl::StrCat(lines_.Where(row), ": ", what));
      };
      for (size_t s = 0; s < n; ++s) {
        const MultiSlotSpec& spec = slots_[s];
        absl::string_view count_text = NextToken(rest);
        if (count_text.empty()) {
          return bad(
              absl::StrCat("ends before slot '", spec.name, "' (slot ", s + 1, " of ", n, ")"));
        }
        int64_t count = 0;
        auto [end, ec] =
            std::from_chars(count_text.data(), count_text.data() + count_text.size(), count);
        if (ec != std::errc() || end != count_text.data() + count_text.size() || count < 0) {
          return bad(absl::StrCat("slot '", spec.name, "': count is ", Quoted(count_text),
                                  "; expected a non-negative integer"));
        }
        if (spec.dim >= 0 && count != spec.dim) {
          return bad(
              absl::StrCat("slot '", spec.name, "' has ", count, " values; expected ", spec.dim));
        }
        for (int64_t k = 0; k < count; ++k) {
          absl::string_view v = NextToken(rest);
          if (v.empty()) {
            return bad(
                absl::StrCat("slot '", spec.name, "' ends after ", k, " of ", count, " values"));
          }
          const char* first = v.data();
          const char* last = v.data() + v.size();
          if (spec.dtype == DataType::kF32) {
            float x = 0;
            auto [e, err] = std::from_chars(first, last, x);
            if (err != std::errc() || e != last) {
              return bad(absl::StrCat("slot '", spec.name, "' value ", k + 1, " is ", Quoted(v),
                                      "; expected a float"));
            }
            floats[s].push_back(x);
          } else {
            int64_t x = 0;
            auto [e, err] = std::from_chars(first, last, x);
            if (err != std::errc() || e != last || (spec.is_unsigned && x < 0)) {
              return bad(absl::StrCat("slot '", spec.name, "' value ", k + 1, " is ", Quoted(v),
                                      spec.is_unsigned ? "; expected a non-negative integer"
                                                       : "; expected an integer"));
            }
            ints[s].push_back(x);
          }
        }
        lengths[s].push_back(count);
      }
      absl::string_view extra = NextToken(rest);
      if (!extra.empty()) {
        return bad(absl::StrCat("has more values after the last slot '", slots_.back().name, "' (",
                                Quoted(extra), "); expected ", n, " slots"));
      }
    }
    const int64_t b = static_cast<int64_t>(rows.size());
    for (size_t s = 0; s < n; ++s) {
      const MultiSlotSpec& spec = slots_[s];
      const int64_t total = spec.dtype == DataType::kF32 ? static_cast<int64_t>(floats[s].size())
                                                         : static_cast<int64_t>(ints[s].size());
      std::vector<int64_t> shape;
      if (spec.dim < 0) {
        shape = {total};
      } else if (spec.scalar) {
        shape = {b};
      } else {
        shape = {b, spec.dim};
      }
      Tensor t(spec.dtype, shape);
      if (spec.dtype == DataType::kF32) {
        std::copy(floats[s].begin(), floats[s].end(), t.data<float>());
      } else {
        std::copy(ints[s].begin(), ints[s].end(), t.data<int64_t>());
      }
      batch.tensors[spec.name] = std::move(t);
      if (spec.dim < 0) {
        Tensor len(DataType::kI64, {b});
        std::copy(lengths[s].begin(), lengths[s].end(), len.data<int64_t>());
        batch.tensors[spec.name + ".lengths"] = std::move(len);
      }
    }
    return absl::OkStatus();
  }

 private:
  TextLines lines_;
  std::vector<MultiSlotSpec> slots_;
};

}  // namespace

absl::StatusOr<std::vector<MultiSlotSpec>> ParseSlotSpecs(const std::string& config) {
  std::vector<MultiSlotSpec> slots;
  std::set<std::string> seen;
  for (absl::string_view raw : absl::StrSplit(config, ',', absl::SkipWhitespace())) {
    const std::string entry(absl::StripAsciiWhitespace(raw));
    auto bad = [&](const std::string& what) {
      return absl::InvalidArgumentError(
          absl::StrCat("slot config entry '", entry, "': ", what,
                       " (expected name:type or name:type:N or "
                       "name:type:var; type float, int64 or uint64)"));
    };
    std::vector<std::string> parts = absl::StrSplit(entry, ':');
    if (parts.size() < 2 || parts.size() > 3 || parts[0].empty()) return bad("malformed");
    MultiSlotSpec spec;
    spec.name = parts[0];
    if (parts[1] == "float" || parts[1] == "f32") {
      spec.dtype = DataType::kF32;
    } else if (parts[1] == "int64" || parts[1] == "i64") {
      spec.dtype = DataType::kI64;
    } else if (parts[1] == "uint64") {
      spec.dtype = DataType::kI64;
      spec.is_unsigned = true;
    } else {
      return bad(absl::StrCat("unknown type '", parts[1], "'"));
    }
    if (parts.size() == 3) {
      spec.scalar = false;
      if (parts[2] == "var") {
        spec.dim = -1;
      } else if (!absl::SimpleAtoi(parts[2], &spec.dim) || spec.dim < 1) {
        return bad(absl::StrCat("value count '", parts[2], "' is not a positive integer"));
      }
    }
    if (!seen.insert(spec.name).second) return bad("the slot name is used twice");
    slots.push_back(std::move(spec));
  }
  if (slots.empty()) return absl::InvalidArgumentError("slot config names no slots");
  return slots;
}

absl::StatusOr<std::shared_ptr<const Dataset>> OpenMultiSlotDataset(
    const std::string& path, const std::vector<MultiSlotSpec>& slots) {
  FLEET_ASSIGN_OR_RETURN(std::vector<std::string> files, ListDataFiles(path, {}));
  return OpenMultiSlotDataset(files, slots);
}

absl::StatusOr<std::shared_ptr<const Dataset>> OpenMultiSlotDataset(
    const std::vector<std::string>& files, const std::vector<MultiSlotSpec>& slots) {
  if (slots.empty()) return absl::InvalidArgumentError("multislot: no slots configured");
  FLEET_ASSIGN_OR_RETURN(TextLines lines, TextLines::Open(files));
  return std::shared_ptr<const Dataset>(
      std::make_shared<MultiSlotDataset>(std::move(lines), slots));
}

}  // namespace fleet
