// MaxPool (with optional Indices), AveragePool, LpPool and the global pools,
// for 1-D, 2-D and 3-D inputs [N, C, spatial...]. Every (image, channel) plane
// is pooled independently, in parallel. Window geometry (pads, strides,
// dilations, auto_pad, ceil_mode) comes from window.h.
//
// MaxPool without Indices and AveragePool take a separable row path
// (PoolPlaneRows): per output row, the in-bounds input rows of the window are
// reduced into one padded row buffer (contiguous, vectorised), the buffer is
// reduced along its width for every window start, and the strided starts are
// picked out. Max and sum are both separable, and the averaging divisor is a
// product of per-dim tap counts, so this is exact for any kernel, stride,
// dilation, pads and ceil_mode. MaxPool with Indices and LpPool use the
// per-output loop (PoolPlane), which computes each output's in-bounds taps
// once so its inner loops never test bounds.
#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "kernels/cpu/groups.h"
#include "kernels/cpu/level_loops.h"
#include "kernels/cpu/vec_loops.h"
#include "kernels/cpu/window.h"

namespace fleet::cpu {
namespace {

constexpr int64_t kGrain = 32 * 1024;

enum class PoolKind { kMax, kAverage, kLp };

// The in-bounds taps [lo, hi) of each dim for output position `o`, and (for
// count_include_pad) the number of taps inside the padded input.
struct Taps {
  int64_t lo[3], hi[3];
  int64_t padded_count = 1;
};

inline void ComputeTaps(const WindowGeometry& g, const int64_t o[3], Taps* t) {
  t->padded_count = 1;
  for (int j = 0; j < 3; ++j) {
    const int64_t start = o[j] * g.stride[j] - g.pad_begin[j];
    ValidRange(start, g.dilation[j], g.in[j], g.kernel[j], &t->lo[j], &t->hi[j]);
    int64_t plo, phi;
    ValidRange(start + g.pad_begin[j], g.dilation[j], g.in[j] + g.pad_begin[j] + g.pad_end[j],
               g.kernel[j], &plo, &phi);
    t->padded_count *= phi - plo;
  }
}

struct PoolParams {
  PoolKind kind = PoolKind::kMax;
  bool count_include_pad = false;
  int64_t p = 2;           // LpPool
  bool col_major = false;  // MaxPool storage_order 1
};

template <typename T>
void PoolPlane(const T* x, const WindowGeometry& g, const PoolParams& pp, int64_t index_base, T* y,
               int64_t* indices) {
  int64_t o[3];
  Taps t;
  for (o[0] = 0; o[0] < g.out[0]; ++o[0]) {
    for (o[1] = 0; o[1] < g.out[1]; ++o[1]) {
      for (o[2] = 0; o[2] < g.out[2]; ++o[2]) {
        ComputeTaps(g, o, &t);
        const int64_t s0 = o[0] * g.stride[0] - g.pad_begin[0];
        const int64_t s1 = o[1] * g.stride[1] - g.pad_begin[1];
        const int64_t s2 = o[2] * g.stride[2] - g.pad_begin[2];
        if (pp.kind == PoolKind::kMax) {
          T best = std::numeric_limits<T>::lowest();
          int64_t best_at = -1;
          for (int64_t a = t.lo[0]; a < t.hi[0]; ++a) {
            const int64_t i0 = s0 + a * g.dilation[0];
            for (int64_t b = t.lo[1]; b < t.hi[1]; ++b) {
              const int64_t i1 = s1 + b * g.dilation[1];
              const T* row = x + (i0 * g.in[1] + i1) * g.in[2];
              for (int64_t c = t.lo[2]; c < t.hi[2]; ++c) {
                const int64_t i2 = s2 + c * g.dilation[2];
                if (row[i2] > best || best_at < 0) {
                  best = row[i2];
                  best_at = pp.col_major ? (i2 * g.in[1] + i1) * g.in[0] + i0
                                         : (i0 * g.in[1] + i1) * g.in[2] + i2;
                }
              }
            }
          }
          *y++ = best;
          if (indices != nullptr) *indices++ = index_base + std::max<int64_t>(best_at, 0);
          continue;
        }
        double acc = 0;
        for (int64_t a = t.lo[0]; a < t.hi[0]; ++a) {
          const int64_t i0 = s0 + a * g.dilation[0];
          for (int64_t b = t.lo[1]; b < t.hi[1]; ++b) {
            const int64_t i1 = s1 + b * g.dilation[1];
            const T* row = x + (i0 * g.in[1] + i1) * g.in[2];
            for (int64_t c = t.lo[2]; c < t.hi[2]; ++c) {
              const double v = static_cast<double>(row[s2 + c * g.dilation[2]]);
              if (pp.kind == PoolKind::kAverage) {
                acc += v;
              } else if (pp.p == 1) {
                acc += std::fabs(v);
              } else if (pp.p == 2) {
                acc += v * v;
              } else {
                acc += std::pow(std::fabs(v), static_cast<double>(pp.p));
              }
            }
          }
        }
        if (pp.kind == PoolKind::kAverage) {
          const int64_t count = pp.count_include_pad ? t.padded_count
                                                     : (t.hi[0] - t.lo[0]) * (t.hi[1] - t.lo[1]) *
                                                           (t.hi[2] - t.lo[2]);
          *y++ = static_cast<T>(count > 0 ? acc / static_cast<double>(count) : 0.0);
        } else {
          *y++ = static_cast<T>(pp.p == 1   ? acc
                                : pp.p == 2 ? std::sqrt(acc)
                                            : std::pow(acc, 1.0 / static_cast<double>(pp.p)));
        }
      }
    }
  }
}

// Elementwise helpers for PoolPlaneRows in fixed kVec blocks (see vec_loops.h:
// GCC's -O2 vectoriser needs a known inner trip count).
template <typename T, bool kMax>
inline T Combine(T a, T b) {
  if constexpr (kMax) {
    return a < b ? b : a;
  } else {
    return a + b;
  }
}

// acc[i] = op(acc[i], x[i]) for i in [0, n).
namespace at_level {
template <typename T, bool kMax>
FLEET_LOOP_INLINE void CombineRow(const T* __restrict x, T* __restrict acc, int64_t n) {
  int64_t i = 0;
  for (; i + kVec <= n; i += kVec) {
    for (int j = 0; j < kVec; ++j) acc[i + j] = Combine<T, kMax>(acc[i + j], x[i + j]);
  }
  for (; i < n; ++i) acc[i] = Combine<T, kMax>(acc[i], x[i]);
}
}  // namespace at_level

template <typename T, bool kMax>
void CombineRow(const T* x, T* acc, int64_t n) {
  RunLoopAtLevel<LoopOf<&at_level::CombineRow<T, kMax>>>(x, acc, n);
}

// dst[i] = op(a[i], b[i]) for i in [0, n).
namespace at_level {
template <typename T, bool kMax>
FLEET_LOOP_INLINE void CombineRows(const T* __restrict a, const T* __restrict b, T* __restrict dst,
                                   int64_t n) {
  int64_t i = 0;
  for (; i + kVec <= n; i += kVec) {
    for (int j = 0; j < kVec; ++j) dst[i + j] = Combine<T, kMax>(a[i + j], b[i + j]);
  }
  for (; i < n; ++i) dst[i] = Combine<T, kMax>(a[i], b[i]);
}
}  // namespace at_level

template <typename T, bool kMax>
void CombineRows(const T* a, const T* b, T* dst, int64_t n) {
  RunLoopAtLevel<LoopOf<&at_level::CombineRows<T, kMax>>>(a, b, dst, n);
}

// What PoolPlaneRows needs beyond the geometry, computed once per kernel call.
template <typename T>
struct RowPlan {
  int64_t width = 0;         // padded row buffer: pad_begin[2] + in[2] + right margin
  int64_t starts = 0;        // window starts reduced per row: (out[2] - 1) * stride[2] + 1
  T identity{};              // lowest (max) or 0 (sum); fills the padding of the row buffer
  std::vector<T> col_scale;  // averaging: 1 / taps counted along the width, per output column
};

// Taps of window `o` along dim j that the average divides by (0 when none).
inline int64_t TapCount(const WindowGeometry& g, int j, int64_t o, bool include_pad) {
  const int64_t start = o * g.stride[j] - g.pad_begin[j];
  int64_t lo, hi;
  if (include_pad) {
    ValidRange(start + g.pad_begin[j], g.dilation[j], g.in[j] + g.pad_begin[j] + g.pad_end[j],
               g.kernel[j], &lo, &hi);
  } else {
    ValidRange(start, g.dilation[j], g.in[j], g.kernel[j], &lo, &hi);
  }
  return hi - lo;
}

template <typename T, bool kMax>
RowPlan<T> MakeRowPlan(const WindowGeometry& g, bool include_pad) {
  RowPlan<T> plan;
  plan.starts = (g.out[2] - 1) * g.stride[2] + 1;
  const int64_t extent = (g.kernel[2] - 1) * g.dilation[2] + 1;
  plan.width = std::max(g.pad_begin[2] + g.in[2], plan.starts - 1 + extent);
  plan.identity = kMax ? std::numeric_limits<T>::lowest() : T{0};
  if (!kMax) {
    plan.col_scale.resize(g.out[2]);
    for (int64_t ow = 0; ow < g.out[2]; ++ow) {
      const int64_t c = TapCount(g, 2, ow, include_pad);
      plan.col_scale[ow] = c > 0 ? T{1} / static_cast<T>(c) : T{0};
    }
  }
  return plan;
}

// Pools one plane row by row (see the file comment). `buf` holds plan.width +
// plan.starts elements; its padding is filled here.
template <typename T, bool kMax>
void PoolPlaneRows(const T* x, const WindowGeometry& g, const RowPlan<T>& plan, bool include_pad,
                   T* buf, T* y) {
  T* padded = buf;                   // [width]: identity, input row reduction, identity
  T* row = padded + g.pad_begin[2];  // the in-bounds part, in[2] wide
  T* reduced = padded + plan.width;  // [starts]: window reduction for every start
  const int64_t in_w = g.in[2], out_w = g.out[2], sw = g.stride[2];
  std::fill(padded, row, plan.identity);
  std::fill(row + in_w, padded + plan.width, plan.identity);
  for (int64_t od = 0; od < g.out[0]; ++od) {
    const int64_t s0 = od * g.stride[0] - g.pad_begin[0];
    int64_t lo0, hi0;
    ValidRange(s0, g.dilation[0], g.in[0], g.kernel[0], &lo0, &hi0);
    for (int64_t oh = 0; oh < g.out[1]; ++oh, y += out_w) {
      const int64_t s1 = oh * g.stride[1] - g.pad_begin[1];
      int64_t lo1, hi1;
      ValidRange(s1, g.dilation[1], g.in[1], g.kernel[1], &lo1, &hi1);
      // Reduce the window's in-bounds input rows into `row`.
      bool first = true;
      for (int64_t a = lo0; a < hi0; ++a) {
        const int64_t i0 = s0 + a * g.dilation[0];
        for (int64_t b = lo1; b < hi1; ++b) {
          const T* xr = x + (i0 * g.in[1] + s1 + b * g.dilation[1]) * in_w;
          if (first) {
            std::copy(xr, xr + in_w, row);
            first = false;
          } else {
            CombineRow<T, kMax>(xr, row, in_w);
          }
        }
      }
      if (first) std::fill(row, row + in_w, plan.identity);
      // Reduce along the width for every window start, then pick the strided starts.
      T* dst = sw == 1 ? y : reduced;
      if (g.kernel[2] == 1) {
        std::copy(padded, padded + plan.starts, dst);
      } else {
        const int64_t dw = g.dilation[2];
        CombineRows<T, kMax>(padded, padded + dw, dst, plan.starts);
        for (int64_t k = 2; k < g.kernel[2]; ++k) {
          CombineRow<T, kMax>(padded + k * dw, dst, plan.starts);
        }
      }
      if (sw != 1) {
        for (int64_t ow = 0; ow < out_w; ++ow) y[ow] = reduced[ow * sw];
      }
      if (!kMax) {
        const int64_t rows = TapCount(g, 0, od, include_pad) * TapCount(g, 1, oh, include_pad);
        const T rs = rows > 0 ? T{1} / static_cast<T>(rows) : T{0};
        const T* cs = plan.col_scale.data();
        for (int64_t ow = 0; ow < out_w; ++ow) y[ow] = y[ow] * rs * cs[ow];
      }
    }
  }
}

template <typename T, PoolKind kKind>
absl::Status PoolKernel(KernelContext& ctx) {
  if (!ctx.has_input(0)) return ctx.InvalidArgument("missing input 'X'");
  const Tensor& x = ctx.input(0);
  if (x.rank() < 3) {
    return ctx.InvalidArgument(absl::StrCat("input 'X' has shape ", ShapeString(x.shape()),
                                            "; expected [N,C,spatial...] with rank >= 3"));
  }
  const int rank = x.rank() - 2;
  std::vector<int64_t> kernel;
  if (absl::Status s = ReadKernelShape(ctx, rank, &kernel); !s.ok()) return s;
  if (kernel.empty()) return ctx.InvalidArgument("missing attribute 'kernel_shape'");
  PoolParams pp;
  pp.kind = kKind;
  pp.count_include_pad = ctx.GetInt("count_include_pad", 0) != 0;
  pp.col_major = ctx.GetInt("storage_order", 0) != 0;
  pp.p = ctx.GetInt("p", 2);
  if (kKind == PoolKind::kLp && pp.p < 1) {
    return ctx.InvalidArgument(absl::StrCat("attribute 'p' is ", pp.p, "; expected >= 1"));
  }
  // Opset 17: AveragePool and LpPool have no dilations, LpPool no ceil_mode.
  const bool ceil_mode = kKind != PoolKind::kLp && ctx.GetInt("ceil_mode", 0) != 0;
  std::vector<int64_t> in(x.shape().begin() + 2, x.shape().end());
  WindowGeometry g;
  if (absl::Status s =
          ComputeForwardWindow(ctx, "X", in, kernel, ceil_mode, kKind == PoolKind::kMax, &g);
      !s.ok()) {
    return s;
  }
  std::vector<int64_t> out_shape = {x.dim(0), x.dim(1)};
  for (int64_t d : g.OutDims()) out_shape.push_back(d);
  Tensor* y = ctx.Output(0, x.dtype(), out_shape);
  int64_t* indices = nullptr;
  if (kKind == PoolKind::kMax && ctx.num_outputs() > 1) {
    indices = ctx.Output(1, DataType::kI64, out_shape)->data<int64_t>();
  }
  if (y->numel() == 0) return absl::OkStatus();
  const int64_t planes = x.dim(0) * x.dim(1);
  const int64_t isz = g.in_size(), osz = g.out_size();
  const T* xp = x.data<T>();
  T* yp = y->data<T>();
  const int64_t grain = std::max<int64_t>(1, kGrain / std::max<int64_t>(1, osz * g.kernel_size()));
  if constexpr (kKind != PoolKind::kLp) {
    if (indices == nullptr) {
      constexpr bool kMax = kKind == PoolKind::kMax;
      const RowPlan<T> plan = MakeRowPlan<T, kMax>(g, pp.count_include_pad);
      const int64_t row_grain = std::max<int64_t>(1, kGrain / std::max<int64_t>(1, isz + osz));
      ctx.ParallelFor(planes, row_grain, [&](int64_t begin, int64_t end) {
        std::vector<T> buf(plan.width + plan.starts);
        for (int64_t p = begin; p < end; ++p) {
          PoolPlaneRows<T, kMax>(xp + p * isz, g, plan, pp.count_include_pad, buf.data(),
                                 yp + p * osz);
        }
      });
      return absl::OkStatus();
    }
  }
  ctx.ParallelFor(planes, grain, [&](int64_t begin, int64_t end) {
    for (int64_t p = begin; p < end; ++p) {
      PoolPlane(xp + p * isz, g, pp, p * isz, yp + p * osz, indices ? indices + p * osz : nullptr);
    }
  });
  return absl::OkStatus();
}

template <typename T, PoolKind kKind>
absl::Status GlobalPoolKernel(KernelContext& ctx) {
  if (!ctx.has_input(0)) return ctx.InvalidArgument("missing input 'X'");
  const Tensor& x = ctx.input(0);
  if (x.rank() < 2) {
    return ctx.InvalidArgument(absl::StrCat("input 'X' has shape ", ShapeString(x.shape()),
                                            "; expected [N,C,spatial...] with rank >= 2"));
  }
  const int64_t p = ctx.GetInt("p", 2);
  if (kKind == PoolKind::kLp && p < 1) {
    return ctx.InvalidArgument(absl::StrCat("attribute 'p' is ", p, "; expected >= 1"));
  }
  std::vector<int64_t> out_shape(x.rank(), 1);
  out_shape[0] = x.dim(0);
  out_shape[1] = x.dim(1);
  Tensor* y = ctx.Output(0, x.dtype(), out_shape);
  const int64_t planes = x.dim(0) * x.dim(1);
  const int64_t isz = planes == 0 ? 0 : x.numel() / planes;
  const T* xp = x.data<T>();
  T* yp = y->data<T>();
  ctx.ParallelFor(planes, std::max<int64_t>(1, kGrain / std::max<int64_t>(1, isz)),
                  [&](int64_t begin, int64_t end) {
                    for (int64_t q = begin; q < end; ++q) {
                      const T* v = xp + q * isz;
                      if (kKind == PoolKind::kMax) {
                        T best = isz > 0 ? v[0] : T{0};
                        for (int64_t i = 1; i < isz; ++i) best = v[i] > best ? v[i] : best;
                        yp[q] = best;
                      } else if (kKind == PoolKind::kAverage) {
                        double acc = 0;
                        for (int64_t i = 0; i < isz; ++i) acc += v[i];
                        yp[q] = static_cast<T>(isz > 0 ? acc / static_cast<double>(isz) : 0.0);
                      } else {
                        double acc = 0;
                        for (int64_t i = 0; i < isz; ++i) {
                          acc += std::pow(std::fabs(static_cast<double>(v[i])),
                                          static_cast<double>(p));
                        }
                        yp[q] = static_cast<T>(std::pow(acc, 1.0 / static_cast<double>(p)));
                      }
                    }
                  });
  return absl::OkStatus();
}

}  // namespace

void RegisterPoolKernels(KernelTable& table) {
  table.Add("MaxPool", Device::kCpu, {DataType::kF32}, &PoolKernel<float, PoolKind::kMax>);
  table.Add("MaxPool", Device::kCpu, {DataType::kF64}, &PoolKernel<double, PoolKind::kMax>);
  table.Add("MaxPool", Device::kCpu, {DataType::kU8}, &PoolKernel<uint8_t, PoolKind::kMax>);
  table.Add("MaxPool", Device::kCpu, {DataType::kI8}, &PoolKernel<int8_t, PoolKind::kMax>);
  table.Add("AveragePool", Device::kCpu, {DataType::kF32}, &PoolKernel<float, PoolKind::kAverage>);
  table.Add("AveragePool", Device::kCpu, {DataType::kF64}, &PoolKernel<double, PoolKind::kAverage>);
  table.Add("LpPool", Device::kCpu, {DataType::kF32}, &PoolKernel<float, PoolKind::kLp>);
  table.Add("LpPool", Device::kCpu, {DataType::kF64}, &PoolKernel<double, PoolKind::kLp>);
  table.Add("GlobalMaxPool", Device::kCpu, {DataType::kF32},
            &GlobalPoolKernel<float, PoolKind::kMax>);
  table.Add("GlobalMaxPool", Device::kCpu, {DataType::kF64},
            &GlobalPoolKernel<double, PoolKind::kMax>);
  table.Add("GlobalAveragePool", Device::kCpu, {DataType::kF32},
            &GlobalPoolKernel<float, PoolKind::kAverage>);
  table.Add("GlobalAveragePool", Device::kCpu, {DataType::kF64},
            &GlobalPoolKernel<double, PoolKind::kAverage>);
  table.Add("GlobalLpPool", Device::kCpu, {DataType::kF32},
            &GlobalPoolKernel<float, PoolKind::kLp>);
  table.Add("GlobalLpPool", Device::kCpu, {DataType::kF64},
            &GlobalPoolKernel<double, PoolKind::kLp>);
}

}  // namespace fleet::cpu
