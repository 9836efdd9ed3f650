// Softmax, LogSoftmax and Hardmax (opset 13: one `axis`, default -1).
//
// The input is viewed as [outer, n, inner] around the axis. Softmax subtracts the max along the
// axis before exponentiating, so large inputs do not overflow:
//   softmax(x)    = exp(x - m) / sum(exp(x - m))
//   logsoftmax(x) = x - m - log(sum(exp(x - m)))
//   hardmax(x)    = 1 at the first maximum along the axis, 0 elsewhere
// inner == 1 (the usual last-axis case) works on contiguous rows; inner > 1 works on blocks of
// columns, row by row, so that every inner loop is contiguous and vectorises.
#include <algorithm>
#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"
#include "ir/status_macros.h"
#include "kernels/cpu/fast_exp.h"
#include "kernels/cpu/norm_internal.h"
#include "kernels/cpu/reduce_axes.h"
#include "kernels/cpu/vec_loops.h"

namespace fleet::cpu {
namespace {

enum class SoftmaxKind { kSoftmax, kLogSoftmax, kHardmax };

constexpr int64_t kColumns = 256;  // columns per block when inner > 1

// y = exp(x - m) (y may be null: only the sum is wanted); returns sum(exp(x - m)).
template <typename T>
FLEET_LOOP_INLINE T ExpShiftedSum(const T* __restrict x, T m, T* __restrict y, int64_t n) {
  T lanes[kVec] = {};
  int64_t i = 0;
  if (y != nullptr) {
    for (; i + kVec <= n; i += kVec) {
      for (int j = 0; j < kVec; ++j) {
        const T e = ExpOf(x[i + j] - m);
        y[i + j] = e;
        lanes[j] += e;
      }
    }
  } else {
    for (; i + kVec <= n; i += kVec) {
      for (int j = 0; j < kVec; ++j) lanes[j] += ExpOf(x[i + j] - m);
    }
  }
  T s = 0;
  for (; i < n; ++i) {
    const T e = ExpOf(x[i] - m);
    if (y != nullptr) y[i] = e;
    s += e;
  }
  return SumLanes(lanes) + s;
}

// s += exp(x - m) elementwise, also storing the exponentials in y when y is not null; at the
// active instruction-set level (level_loops.h).
template <typename T>
struct AccumulateExpLoop {
  static FLEET_LOOP_INLINE void Run(const T* __restrict x, const T* __restrict m, T* __restrict y,
                                    T* __restrict s, int64_t n) {
    int64_t i = 0;
    if (y != nullptr) {
      for (; i + kVec <= n; i += kVec) {
        for (int j = 0; j < kVec; ++j) {
          const T e = ExpOf(x[i + j] - m[i + j]);
          y[i + j] = e;
          s[i + j] += e;
        }
      }
    } else {
      for (; i + kVec <= n; i += kVec) {
        for (int j = 0; j < kVec; ++j) s[i + j] += ExpOf(x[i + j] - m[i + j]);
      }
    }
    for (; i < n; ++i) {
      const T e = ExpOf(x[i] - m[i]);
      if (y != nullptr) y[i] = e;
      s[i] += e;
    }
  }
};

template <typename T>
void AccumulateExp(const T* x, const T* m, T* y, T* s, int64_t n) {
  RunLoopAtLevel<AccumulateExpLoop<T>>(x, m, y, s, n);
}

template <SoftmaxKind kKind, typename T>
FLEET_LOOP_INLINE void SoftmaxRow(const T* __restrict x, T* __restrict y, int64_t n) {
  if constexpr (kKind == SoftmaxKind::kHardmax) {
    int64_t best = 0;
    for (int64_t i = 1; i < n; ++i) {
      if (x[i] > x[best]) best = i;
    }
    std::fill(y, y + n, T(0));
    if (n > 0) y[best] = T(1);
    return;
  }
  const T m = vec::RowMax(x, n);
  if constexpr (kKind == SoftmaxKind::kSoftmax) {
    const T inv = T(1) / ExpShiftedSum(x, m, y, n);
    vec::ScaleInPlace(y, inv, n);
  } else {
    // (x - m) - log(s), not x - (m + log(s)): m + log(s) would round away log(s) when |m| is
    // large.
    vec::SubTwoScalars(x, m, std::log(ExpShiftedSum<T>(x, m, nullptr, n)), y, n);
  }
}

// Rows [begin, end) of n elements; run at the active instruction-set level, one call per chunk
// of rows (attention rows are short: a dispatch per row would show).
template <SoftmaxKind kKind, typename T>
FLEET_LOOP_INLINE void SoftmaxRows(const T* x, T* y, int64_t begin, int64_t end, int64_t n) {
  for (int64_t o = begin; o < end; ++o) SoftmaxRow<kKind, T>(x + o * n, y + o * n, n);
}

// The same along a strided axis: x and y point at column c0 of row 0; rows are `stride` apart.
template <SoftmaxKind kKind, typename T>
void SoftmaxColumns(const T* x, T* y, int64_t n, int64_t stride, int64_t w) {
  T m[kColumns];
  T s[kColumns];
  if constexpr (kKind == SoftmaxKind::kHardmax) {
    int64_t best[kColumns];
    for (int64_t c = 0; c < w; ++c) {
      m[c] = x[c];
      best[c] = 0;
    }
    for (int64_t r = 1; r < n; ++r) {
      const T* row = x + r * stride;
      for (int64_t c = 0; c < w; ++c) {
        const bool better = row[c] > m[c];
        m[c] = better ? row[c] : m[c];
        best[c] = better ? r : best[c];
      }
    }
    for (int64_t r = 0; r < n; ++r) {
      T* out = y + r * stride;
      for (int64_t c = 0; c < w; ++c) out[c] = best[c] == r ? T(1) : T(0);
    }
    return;
  }
  for (int64_t c = 0; c < w; ++c) {
    m[c] = -std::numeric_limits<T>::infinity();
    s[c] = 0;
  }
  for (int64_t r = 0; r < n; ++r) {
    const T* row = x + r * stride;
    MaxVector(row, m, w);
  }
  for (int64_t r = 0; r < n; ++r) {
    const T* row = x + r * stride;
    T* out = kKind == SoftmaxKind::kSoftmax ? y + r * stride : nullptr;
    AccumulateExp(row, m, out, s, w);
  }
  if constexpr (kKind == SoftmaxKind::kSoftmax) {
    for (int64_t c = 0; c < w; ++c) s[c] = T(1) / s[c];
    for (int64_t r = 0; r < n; ++r) {
      T* out = y + r * stride;
      MulVector(out, s, w);
    }
  } else {
    for (int64_t c = 0; c < w; ++c) s[c] = std::log(s[c]);
    for (int64_t r = 0; r < n; ++r) {
      const T* row = x + r * stride;
      T* out = y + r * stride;
      SubTwoVectors(row, m, s, out, w);
    }
  }
}

template <SoftmaxKind kKind, typename T>
absl::Status RunSoftmax(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  FLEET_ASSIGN_OR_RETURN(int axis, ResolveAxis(ctx, ctx.GetInt("axis", -1), x.rank()));
  Tensor* y = ctx.Output(0, x.dtype(), x.shape());
  if (x.numel() == 0) return absl::OkStatus();
  const AxisSplit s = SplitAt(x.shape(), axis);
  const T* src = x.data<T>();
  T* dst = y->data<T>();
  const int64_t n = s.axis;
  if (s.inner == 1) {
    ctx.ParallelFor(s.outer, GrainFor(n), [&](int64_t b, int64_t e) {
      RunLoopAtLevel<LoopOf<&SoftmaxRows<kKind, T>>>(src, dst, b, e, n);
    });
    return absl::OkStatus();
  }
  const int64_t inner = s.inner;
  const int64_t blocks = (inner + kColumns - 1) / kColumns;
  ctx.ParallelFor(s.outer * blocks, GrainFor(n * std::min(inner, kColumns)),
                  [&](int64_t b, int64_t e) {
                    for (int64_t k = b; k < e; ++k) {
                      const int64_t o = k / blocks, c0 = (k % blocks) * kColumns;
                      const int64_t offset = o * n * inner + c0;
                      SoftmaxColumns<kKind, T>(src + offset, dst + offset, n, inner,
                                               std::min(kColumns, inner - c0));
                    }
                  });
  return absl::OkStatus();
}

template <SoftmaxKind kKind>
absl::Status SoftmaxKernel(KernelContext& ctx) {
  switch (ctx.input(0).dtype()) {
    case DataType::kF32:
      return RunSoftmax<kKind, float>(ctx);
    case DataType::kF64:
      return RunSoftmax<kKind, double>(ctx);
    default:
      return ctx.Unimplemented(
          absl::StrCat("input has type ", ctx.input(0).TypeString(), "; expected f32 or f64"));
  }
}

}  // namespace

void RegisterSoftmaxKernels(KernelTable& table) {
  const std::vector<DataType> types = {DataType::kF32, DataType::kF64};
  table.Add("Softmax", Device::kCpu, types, &SoftmaxKernel<SoftmaxKind::kSoftmax>);
  table.Add("LogSoftmax", Device::kCpu, types, &SoftmaxKernel<SoftmaxKind::kLogSoftmax>);
  table.Add("Hardmax", Device::kCpu, types, &SoftmaxKernel<SoftmaxKind::kHardmax>);
}

}  // namespace fleet::cpu
