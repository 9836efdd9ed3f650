// Checks shared by the program readers (binary and text): a TensorValue's shape and byte size
// are validated before anything indexes into it.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "absl/status/status.h"
#include "ir/attribute.h"

namespace fleet {

// Elements in a tensor of `shape`; nullopt when a dim is negative or the count exceeds 2^62
// (no real tensor is that large, and the bound keeps count * element size from overflowing).
std::optional<int64_t> CheckedNumElements(const std::vector<int64_t>& shape);

// OK when `value` has a defined dtype, a valid shape, and bytes that hold exactly its elements.
// With `allow_placeholder`, empty bytes are accepted too (dtype and shape only, no data).
// The error message names the problem without a location prefix.
absl::Status CheckTensorValue(const TensorValue& value, bool allow_placeholder);

}  // namespace fleet
