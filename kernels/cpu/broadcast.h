// NumPy-style (ONNX "multidirectional") broadcasting for elementwise CPU kernels.
//
// BroadcastShape computes the common shape of two or more inputs. MakeBroadcastPlan turns the
// input shapes into a walk over the output: dims of size 1 are dropped and adjacent dims that
// every input walks contiguously (or broadcasts together) are merged, so the common cases
// collapse into one tight inner loop:
//   same shape          [N,C,H,W] + [N,C,H,W]  ->  1 row  of N*C*H*W, both contiguous
//   scalar              [N,C]     + []         ->  1 row  of N*C, B broadcast
//   trailing vector     [N,C]     + [C]        ->  N rows of C, B restarts each row
//   channel bias        [N,C,H,W] + [C,1,1]    ->  N*C rows of H*W, B constant per row
// and anything else is a strided walk over the merged outer dims. Kernels then call
// BroadcastBinary / BroadcastTernary with a per-element functor, which the compiler inlines.
//
// Usage:
//   FLEET_ASSIGN_OR_RETURN(BroadcastPlan plan, PlanBroadcast(ctx, {&a, &b}));
//   Tensor* y = ctx.Output(0, a.dtype(), plan.out_shape);
//   BroadcastBinary(ctx, plan, a.data<float>(), b.data<float>(), y->data<float>(),
//                   [](float x, float z) { return x + z; });
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <initializer_list>
#include <vector>

#include "absl/status/statusor.h"
#include "executor/kernel.h"
#include "executor/tensor.h"
#include "kernels/cpu/level_loops.h"

namespace fleet::cpu {

// Elements per ParallelFor chunk for cheap elementwise loops.
inline constexpr int64_t kElementwiseGrain = 32 * 1024;

// The broadcast shape of `a` and `b`, or INVALID_ARGUMENT naming both shapes and the first
// mismatching axis, e.g. "shapes [2,3] and [4] cannot be broadcast: axis -1 has 3 vs 4".
absl::StatusOr<std::vector<int64_t>> BroadcastShape(const std::vector<int64_t>& a,
                                                    const std::vector<int64_t>& b);

// How to walk up to kMaxInputs inputs broadcast to a common output shape.
struct BroadcastPlan {
  static constexpr int kMaxInputs = 3;

  std::vector<int64_t> out_shape;  // the broadcast shape (what the kernel allocates)
  int64_t numel = 0;               // elements of out_shape
  int num_inputs = 0;
  // The merged iteration space: outer_dims (outermost first) x inner.
  int64_t inner = 1;
  std::vector<int64_t> outer_dims;
  // Per input: element stride for each outer dim (0 where broadcast) and for the inner dim
  // (1, or 0 when the input is constant along it).
  std::array<std::vector<int64_t>, kMaxInputs> outer_strides;
  std::array<int64_t, kMaxInputs> inner_stride{};

  // True when input i is read at the same index as the output (no broadcasting).
  bool IsContiguous(int i) const {
    if (inner_stride[i] != 1 && inner > 1) return false;
    int64_t expect = inner;
    for (int d = static_cast<int>(outer_dims.size()) - 1; d >= 0; --d) {
      if (outer_strides[i][d] != expect) return false;
      expect *= outer_dims[d];
    }
    return true;
  }
};

// Plans the broadcast of 1..kMaxInputs shapes; INVALID_ARGUMENT (naming the shapes) when they
// do not broadcast.
absl::StatusOr<BroadcastPlan> MakeBroadcastPlan(const std::vector<std::vector<int64_t>>& shapes);

// MakeBroadcastPlan over tensors, with the error prefixed by the op's description.
absl::StatusOr<BroadcastPlan> PlanBroadcast(const KernelContext& ctx,
                                            std::initializer_list<const Tensor*> inputs);

// Calls fn(offsets, out_offset, count) over spans of the output, in parallel: the span covers
// output elements [out_offset, out_offset + count), all within one row of the plan, and input
// k's first element is at offsets[k] and advances by plan.inner_stride[k].
template <typename SpanFn>
void ForEachSpan(const KernelContext& ctx, const BroadcastPlan& plan, const SpanFn& fn) {
  if (plan.numel == 0) return;
  const int nd = static_cast<int>(plan.outer_dims.size());
  const int ni = plan.num_inputs;
  ctx.ParallelFor(plan.numel, kElementwiseGrain, [&](int64_t begin, int64_t end) {
    int64_t row = begin / plan.inner;
    int64_t col = begin % plan.inner;
    std::vector<int64_t> idx(nd);
    int64_t row_off[BroadcastPlan::kMaxInputs] = {};
    for (int d = nd - 1; d >= 0; --d) {
      idx[d] = row % plan.outer_dims[d];
      row /= plan.outer_dims[d];
      for (int k = 0; k < ni; ++k) row_off[k] += idx[d] * plan.outer_strides[k][d];
    }
    int64_t pos = begin;
    while (pos < end) {
      int64_t count = std::min(plan.inner - col, end - pos);
      int64_t off[BroadcastPlan::kMaxInputs] = {};
      for (int k = 0; k < ni; ++k) off[k] = row_off[k] + col * plan.inner_stride[k];
      fn(static_cast<const int64_t*>(off), pos, count);
      pos += count;
      col = 0;
      // Advance the odometer to the next row.
      for (int d = nd - 1; d >= 0; --d) {
        if (++idx[d] < plan.outer_dims[d]) {
          for (int k = 0; k < ni; ++k) row_off[k] += plan.outer_strides[k][d];
          break;
        }
        for (int k = 0; k < ni; ++k) {
          row_off[k] -= (plan.outer_dims[d] - 1) * plan.outer_strides[k][d];
        }
        idx[d] = 0;
      }
    }
  });
}

// The span loops below step in fixed blocks of kSpanBlock elements, which GCC's -O2 vectoriser
// takes (it does not vectorise loops with an unknown trip count that would need a scalar
// epilogue or a runtime overlap check). `#pragma GCC ivdep` tells it that the output does not
// overlap the inputs in a way that carries a dependence between iterations: the output may be
// the very same array as a contiguous input (read at the index it writes), nothing else.
inline constexpr int kSpanBlock = 16;

// The span loops run at the active instruction-set level (level_loops.h).
namespace broadcast_internal {

template <typename TA, typename TB, typename TO, typename F>
struct SpanVVLoop {
  static FLEET_LOOP_INLINE void Run(const TA* a, const TB* b, TO* o, int64_t n, const F* f) {
    int64_t i = 0;
    for (; i + kSpanBlock <= n; i += kSpanBlock) {
#pragma GCC ivdep
      for (int j = 0; j < kSpanBlock; ++j) o[i + j] = (*f)(a[i + j], b[i + j]);
    }
    for (; i < n; ++i) o[i] = (*f)(a[i], b[i]);
  }
};
template <typename TA, typename TB, typename TO, typename F>
struct SpanVSLoop {
  static FLEET_LOOP_INLINE void Run(const TA* a, TB b, TO* o, int64_t n, const F* f) {
    int64_t i = 0;
    for (; i + kSpanBlock <= n; i += kSpanBlock) {
#pragma GCC ivdep
      for (int j = 0; j < kSpanBlock; ++j) o[i + j] = (*f)(a[i + j], b);
    }
    for (; i < n; ++i) o[i] = (*f)(a[i], b);
  }
};
template <typename TA, typename TB, typename TO, typename F>
struct SpanSVLoop {
  static FLEET_LOOP_INLINE void Run(TA a, const TB* b, TO* o, int64_t n, const F* f) {
    int64_t i = 0;
    for (; i + kSpanBlock <= n; i += kSpanBlock) {
#pragma GCC ivdep
      for (int j = 0; j < kSpanBlock; ++j) o[i + j] = (*f)(a, b[i + j]);
    }
    for (; i < n; ++i) o[i] = (*f)(a, b[i]);
  }
};

}  // namespace broadcast_internal

// o[i] = f(a[i], b[i]) for i in [0, n).
template <typename TA, typename TB, typename TO, typename F>
void SpanVV(const TA* a, const TB* b, TO* o, int64_t n, const F& f) {
  RunLoopAtLevel<broadcast_internal::SpanVVLoop<TA, TB, TO, F>>(a, b, o, n, &f);
}
// o[i] = f(a[i], b) for i in [0, n).
template <typename TA, typename TB, typename TO, typename F>
void SpanVS(const TA* a, TB b, TO* o, int64_t n, const F& f) {
  RunLoopAtLevel<broadcast_internal::SpanVSLoop<TA, TB, TO, F>>(a, b, o, n, &f);
}
// o[i] = f(a, b[i]) for i in [0, n).
template <typename TA, typename TB, typename TO, typename F>
void SpanSV(TA a, const TB* b, TO* o, int64_t n, const F& f) {
  RunLoopAtLevel<broadcast_internal::SpanSVLoop<TA, TB, TO, F>>(a, b, o, n, &f);
}

// out[i] = f(a[ia], b[ib]) over a two-input plan. `out` may alias `a` or `b` when that input is
// contiguous in the plan.
template <typename TA, typename TB, typename TO, typename F>
void BroadcastBinary(const KernelContext& ctx, const BroadcastPlan& plan, const TA* a, const TB* b,
                     TO* out, F f) {
  const bool sa = plan.inner_stride[0] != 0;
  const bool sb = plan.inner_stride[1] != 0;
  // Fast path: one outer dim along which a walks contiguously and b restarts (b is one row of
  // `inner`, e.g. [N, C] + [C]) or stays (b is a scalar or constant per row): rows go straight
  // to the span loops without the general odometer.
  if (plan.numel > 0 && plan.outer_dims.size() == 1 && sa &&
      plan.outer_strides[0][0] == plan.inner && plan.inner <= kElementwiseGrain) {
    const int64_t b_row = plan.outer_strides[1][0];
    const int64_t inner = plan.inner;
    ctx.ParallelFor(plan.outer_dims[0], kElementwiseGrain / inner, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        if (sb) {
          SpanVV(a + r * inner, b + r * b_row, out + r * inner, inner, f);
        } else {
          SpanVS(a + r * inner, b[r * b_row], out + r * inner, inner, f);
        }
      }
    });
    return;
  }
  ForEachSpan(ctx, plan, [&](const int64_t* off, int64_t o, int64_t n) {
    const TA* pa = a + off[0];
    const TB* pb = b + off[1];
    TO* po = out + o;
    if (sa && sb) {
      SpanVV(pa, pb, po, n, f);
    } else if (sa) {
      SpanVS(pa, *pb, po, n, f);
    } else if (sb) {
      SpanSV(*pa, pb, po, n, f);
    } else {
      const TO v = f(*pa, *pb);
      for (int64_t i = 0; i < n; ++i) po[i] = v;
    }
  });
}

// out[i] = f(a[ia], b[ib], c[ic]) over a three-input plan.
template <typename TA, typename TB, typename TC, typename TO, typename F>
void BroadcastTernary(const KernelContext& ctx, const BroadcastPlan& plan, const TA* a, const TB* b,
                      const TC* c, TO* out, F f) {
  const int64_t sa = plan.inner_stride[0], sb = plan.inner_stride[1], sc = plan.inner_stride[2];
  ForEachSpan(ctx, plan, [&](const int64_t* off, int64_t o, int64_t n) {
    const TA* pa = a + off[0];
    const TB* pb = b + off[1];
    const TC* pc = c + off[2];
    TO* po = out + o;
    if (sa && sb && sc) {
      int64_t i = 0;
      for (; i + kSpanBlock <= n; i += kSpanBlock) {
#pragma GCC ivdep
        for (int j = 0; j < kSpanBlock; ++j) po[i + j] = f(pa[i + j], pb[i + j], pc[i + j]);
      }
      for (; i < n; ++i) po[i] = f(pa[i], pb[i], pc[i]);
    } else {
      for (int64_t i = 0; i < n; ++i) po[i] = f(pa[i * sa], pb[i * sb], pc[i * sc]);
    }
  });
}

// Copies `in` broadcast to plan.out_shape (a one-input plan) into `out`.
template <typename T>
void BroadcastCopy(const KernelContext& ctx, const BroadcastPlan& plan, const T* in, T* out) {
  const bool s = plan.inner_stride[0] != 0;
  ForEachSpan(ctx, plan, [&](const int64_t* off, int64_t o, int64_t n) {
    const T* p = in + off[0];
    T* po = out + o;
    if (s) {
      std::copy(p, p + n, po);
    } else {
      std::fill(po, po + n, *p);
    }
  });
}

}  // namespace fleet::cpu
