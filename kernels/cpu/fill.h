// Fills a tensor with one value converted to its dtype (fleet.fill_like in autodiff.cc,
// fleet.fill_constant in training.cc).
#pragma once

#include <cstdint>

#include "executor/tensor.h"

namespace fleet::cpu {

template <typename T>
void FillWith(Tensor* out, double value) {
  T* p = out->data<T>();
  const T v = static_cast<T>(value);
  for (int64_t i = 0; i < out->numel(); ++i) p[i] = v;
}

// Sets every element of `out` (f32, f64, i64 or i32) to `value`; false for other dtypes.
inline bool FillTensor(Tensor* out, double value) {
  switch (out->dtype()) {
    case DataType::kF32:
      FillWith<float>(out, value);
      return true;
    case DataType::kF64:
      FillWith<double>(out, value);
      return true;
    case DataType::kI64:
      FillWith<int64_t>(out, value);
      return true;
    case DataType::kI32:
      FillWith<int32_t>(out, value);
      return true;
    default:
      return false;
  }
}

}  // namespace fleet::cpu
