// Sparse-rows gradients (Tensor::SparseRows) as the optimizer and clipping kernels consume
// them: the rows of one step with repeated ids added up, so that each table row is touched
// once (updates of distinct rows can then run in parallel, and norms see the dense gradient).
#pragma once

#include <cstdint>
#include <cstring>
#include <unordered_map>
#include <vector>

#include "absl/strings/str_cat.h"
#include "executor/kernel.h"

namespace fleet::cpu {

// Rows of a table's gradient with unique ids, in order of first appearance.
template <typename T>
struct MergedRows {
  std::vector<int64_t> ids;
  std::vector<T> values;  // ids.size() rows of `width` elements
  int64_t width = 0;
};

// Merges the sparse rows `grad` (dtype T) of a table of `height` rows of `width` elements:
// repeated ids add up. INVALID_ARGUMENT when the rows do not fit the table or an id is out of
// range. `what` names the tensor in messages ("input 'Grad'").
template <typename T>
absl::Status MergeRows(const KernelContext& ctx, const Tensor& grad, int64_t height, int64_t width,
                       const char* what, MergedRows<T>* out) {
  const int64_t n = grad.rows().numel();
  if (grad.sparse_height() != height || grad.rank() == 0 || grad.dim(0) != n ||
      grad.numel() != n * width) {
    return ctx.InvalidArgument(absl::StrCat(what, " is ", grad.TypeString(),
                                            "; expected sparse rows of ", height, " rows of ",
                                            width, " elements"));
  }
  const int64_t* ids = grad.rows().data<int64_t>();
  const T* src = grad.data<T>();
  out->width = width;
  out->ids.clear();
  out->values.clear();
  out->ids.reserve(n);
  out->values.reserve(n * width);
  std::unordered_map<int64_t, int64_t> slot;
  slot.reserve(n);
  for (int64_t r = 0; r < n; ++r) {
    const int64_t id = ids[r];
    if (id < 0 || id >= height) {
      return ctx.InvalidArgument(
          absl::StrCat(what, ": sparse row id ", id, " is outside the table's ", height, " rows"));
    }
    auto [it, inserted] = slot.emplace(id, static_cast<int64_t>(out->ids.size()));
    const T* row = src + r * width;
    if (inserted) {
      out->ids.push_back(id);
      out->values.insert(out->values.end(), row, row + width);
    } else {
      T* dst = out->values.data() + it->second * width;
      for (int64_t j = 0; j < width; ++j) dst[j] += row[j];
    }
  }
  return absl::OkStatus();
}

}  // namespace fleet::cpu
