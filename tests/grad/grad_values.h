// Fixed input values for gradient checks (GradCheckOptions::values): integer tensors for
// indices, shapes and labels, and float tensors placed away from kinks.
#pragma once

#include <cstdint>
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

inline TensorValue I64(std::vector<int64_t> shape, const std::vector<int64_t>& data) {
  return ValueOf(DataType::kI64, std::move(shape), data);
}
inline TensorValue I32(std::vector<int64_t> shape, const std::vector<int32_t>& data) {
  return ValueOf(DataType::kI32, std::move(shape), data);
}
inline TensorValue F64(std::vector<int64_t> shape, const std::vector<double>& data) {
  return ValueOf(DataType::kF64, std::move(shape), data);
}

}  // namespace fleet::testing_util
