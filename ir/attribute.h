// Typed op attributes and constant tensor values held by the IR.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <variant>
#include <vector>

#include "ir/dtype.h"

namespace fleet {

// A constant tensor stored in the IR (initial parameter values, Constant's `value`).
// `bytes` holds the elements densely, row-major, little-endian; bool is one byte per element.
struct TensorValue {
  DataType dtype = DataType::kUndefined;
  std::vector<int64_t> shape;
  std::string bytes;

  int64_t NumElements() const;
  bool operator==(const TensorValue& other) const {
    return dtype == other.dtype && shape == other.shape && bytes == other.bytes;
  }
};

// Reference to a sub-block of the same program (pserver optimize blocks, LocalSGD sync block).
struct BlockRef {
  int index = -1;
  bool operator==(const BlockRef& other) const { return index == other.index; }
};

using AttrValue = std::variant<int64_t, float, std::string, std::vector<int64_t>,
                               std::vector<float>, std::vector<std::string>, TensorValue,
                               BlockRef>;

enum class AttrType { kInt, kFloat, kString, kInts, kFloats, kStrings, kTensor, kBlock };

// Attributes keyed by name; ordered so that printing and serialization are deterministic.
using AttrMap = std::map<std::string, AttrValue>;

inline AttrType TypeOf(const AttrValue& value) { return static_cast<AttrType>(value.index()); }
const char* AttrTypeName(AttrType type);

}  // namespace fleet
