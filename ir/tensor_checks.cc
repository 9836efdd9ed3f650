// Shape and byte-size checks for TensorValues read from files.
#include "ir/tensor_checks.h"

#include "absl/strings/str_cat.h"

namespace fleet {

std::optional<int64_t> CheckedNumElements(const std::vector<int64_t>& shape) {
  // 2^40 elements: far beyond any real tensor, and times any element size still fits 64 bits.
  constexpr int64_t kLimit = int64_t{1} << 40;
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) return std::nullopt;
    if (d == 0) {
      n = 0;
      continue;
    }
    if (n > kLimit / d) return std::nullopt;
    n *= d;
  }
  return n;
}

absl::Status CheckTensorValue(const TensorValue& value, bool allow_placeholder) {
  if (value.dtype == DataType::kUndefined) {
    return absl::InvalidArgumentError("tensor has undefined dtype");
  }
  std::optional<int64_t> n = CheckedNumElements(value.shape);
  if (!n) {
    std::string dims;
    for (int64_t d : value.shape) absl::StrAppend(&dims, dims.empty() ? "" : ",", d);
    return absl::InvalidArgumentError(
        absl::StrCat("tensor shape [", dims, "] has a negative dim or too many elements"));
  }
  if (allow_placeholder && value.bytes.empty()) return absl::OkStatus();
  const uint64_t expected = static_cast<uint64_t>(*n) * DataTypeSize(value.dtype);
  if (value.bytes.size() != expected) {
    return absl::InvalidArgumentError(absl::StrCat("tensor ", DataTypeName(value.dtype), " with ",
                                                   *n, " elements has ", value.bytes.size(),
                                                   " bytes of data; expected ", expected));
  }
  return absl::OkStatus();
}

}  // namespace fleet
