// Pieces shared by the reduction kernel files (reduce.cc, arg_reduce.cc) and the normalisation
// kernels: a strided permuting copy and the ArgMax/ArgMin registration.
#pragma once

#include <cstdint>
#include <vector>

#include "executor/kernel.h"
#include "kernels/cpu/reduce_axes.h"

namespace fleet::cpu {

// Registers ArgMax and ArgMin (arg_reduce.cc); called by RegisterReduceKernels.
void RegisterArgReduceKernels(KernelTable& table);

// Writes `x` (dense, shape `dims`) transposed by `perm` into `y`: y's dim k is dims[perm[k]].
template <typename T>
void PermuteCopy(const KernelContext& ctx, const T* x, const std::vector<int64_t>& dims,
                 const std::vector<int>& perm, T* y) {
  const int n = static_cast<int>(dims.size());
  if (n == 0) {
    y[0] = x[0];
    return;
  }
  std::vector<int64_t> in_stride(n, 1);
  for (int i = n - 2; i >= 0; --i) in_stride[i] = in_stride[i + 1] * dims[i + 1];
  std::vector<int64_t> out_dims(n), stride(n);
  int64_t total = 1;
  for (int k = 0; k < n; ++k) {
    out_dims[k] = dims[perm[k]];
    stride[k] = in_stride[perm[k]];
    total *= out_dims[k];
  }
  const int64_t last = out_dims[n - 1];
  if (total == 0) return;
  const int64_t rows = total / last;
  const int64_t last_stride = stride[n - 1];
  ctx.ParallelFor(rows, GrainFor(last), [&](int64_t b, int64_t e) {
    for (int64_t row = b; row < e; ++row) {
      int64_t rem = row, offset = 0;
      for (int k = n - 2; k >= 0; --k) {
        offset += (rem % out_dims[k]) * stride[k];
        rem /= out_dims[k];
      }
      const T* src = x + offset;
      T* dst = y + row * last;
      for (int64_t j = 0; j < last; ++j) dst[j] = src[j * last_stride];
    }
  });
}

}  // namespace fleet::cpu
