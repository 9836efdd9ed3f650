// Fixed input values for the gradient checks (GradCheckOptions::values): f64 tensors placed
// away from kinks, bool conditions and masks, i64 axes.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ir/attribute.h"

namespace fleet::testing_util {

template <typename T>
TensorValue ValueOf(DataType dtype, std::vector<int64_t> shape, const std::vector<T>& data) {
  TensorValue v;
  v.dtype = dtype;
  v.shape = std::move(shape);
  v.bytes.assign(reinterpret_cast<const char*>(data.data()), data.size() * sizeof(T));
  return v;
}

inline TensorValue F64(std::vector<int64_t> shape, const std::vector<double>& data) {
  return ValueOf(DataType::kF64, std::move(shape), data);
}

inline TensorValue Bool(std::vector<int64_t> shape, const std::vector<uint8_t>& data) {
  return ValueOf(DataType::kBool, std::move(shape), data);
}

inline TensorValue I64(std::vector<int64_t> shape, const std::vector<int64_t>& data) {
  return ValueOf(DataType::kI64, std::move(shape), data);
}

}  // namespace fleet::testing_util
