// Gradients of the pools, for 1-D, 2-D and 3-D inputs [N, C, spatial...]:
//   fleet.max_pool_grad(X, YGrad) -> XGrad: each output's gradient goes to the first maximum
//       of its window (the order MaxPool scans: the same element its Indices output names);
//   fleet.avg_pool_grad(X, YGrad) -> XGrad: each output's gradient spreads evenly over the
//       in-bounds taps, divided by the count AveragePool divided by (count_include_pad);
//   fleet.global_max_pool_grad / fleet.global_avg_pool_grad(X, YGrad) -> XGrad.
// Window geometry (pads, strides, dilations, auto_pad, ceil_mode) comes from window.h, as in the
// forward. Every (image, channel) plane is independent: the planes run in parallel.
#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "kernels/cpu/groups.h"
#include "kernels/cpu/window.h"

namespace fleet::cpu {
namespace {

constexpr int64_t kGrain = 32 * 1024;

// The in-bounds taps [lo, hi) of each dim for window `o`, and the window's first input
// coordinate per dim.
struct WindowTaps {
  int64_t lo[3], hi[3], start[3];
  int64_t padded_count = 1;  // taps inside the padded input (count_include_pad)
};

inline void TapsOf(const WindowGeometry& g, const int64_t o[3], WindowTaps* t) {
  t->padded_count = 1;
  for (int j = 0; j < 3; ++j) {
    t->start[j] = o[j] * g.stride[j] - g.pad_begin[j];
    ValidRange(t->start[j], g.dilation[j], g.in[j], g.kernel[j], &t->lo[j], &t->hi[j]);
    int64_t plo, phi;
    ValidRange(t->start[j] + g.pad_begin[j], g.dilation[j], g.in[j] + g.pad_begin[j] + g.pad_end[j],
               g.kernel[j], &plo, &phi);
    t->padded_count *= phi - plo;
  }
}

// Calls fn(offset) for every in-bounds tap of a window, in MaxPool's scan order.
template <typename Fn>
inline void ForEachTap(const WindowGeometry& g, const WindowTaps& t, Fn fn) {
  for (int64_t a = t.lo[0]; a < t.hi[0]; ++a) {
    const int64_t i0 = t.start[0] + a * g.dilation[0];
    for (int64_t b = t.lo[1]; b < t.hi[1]; ++b) {
      const int64_t row = (i0 * g.in[1] + t.start[1] + b * g.dilation[1]) * g.in[2];
      for (int64_t c = t.lo[2]; c < t.hi[2]; ++c) fn(row + t.start[2] + c * g.dilation[2]);
    }
  }
}

template <typename T, bool kMax>
void PoolGradPlane(const T* x, const T* dy, const WindowGeometry& g, bool include_pad, T* dx) {
  std::fill(dx, dx + g.in_size(), T{0});
  int64_t o[3];
  WindowTaps t;
  for (o[0] = 0; o[0] < g.out[0]; ++o[0]) {
    for (o[1] = 0; o[1] < g.out[1]; ++o[1]) {
      for (o[2] = 0; o[2] < g.out[2]; ++o[2], ++dy) {
        TapsOf(g, o, &t);
        if (kMax) {
          int64_t best_at = -1;
          ForEachTap(g, t, [&](int64_t i) {
            if (best_at < 0 || x[i] > x[best_at]) best_at = i;
          });
          if (best_at >= 0) dx[best_at] += *dy;
          continue;
        }
        const int64_t count = include_pad
                                  ? t.padded_count
                                  : (t.hi[0] - t.lo[0]) * (t.hi[1] - t.lo[1]) * (t.hi[2] - t.lo[2]);
        if (count == 0) continue;
        const T share = *dy / static_cast<T>(count);
        ForEachTap(g, t, [&](int64_t i) { dx[i] += share; });
      }
    }
  }
}

template <typename T, bool kMax>
absl::Status PoolGradKernel(KernelContext& ctx) {
  if (!ctx.has_input(0) || !ctx.has_input(1)) {
    return ctx.InvalidArgument("needs inputs 'X' and 'YGrad'");
  }
  const Tensor& x = ctx.input(0);
  const Tensor& dy = ctx.input(1);
  if (x.rank() < 3 || dy.dtype() != x.dtype()) {
    return ctx.InvalidArgument(
        absl::StrCat("inputs 'X' ", x.TypeString(), " and 'YGrad' ", dy.TypeString(),
                     "; expected X [N,C,spatial...] and YGrad of its dtype"));
  }
  const int rank = x.rank() - 2;
  std::vector<int64_t> kernel;
  if (absl::Status s = ReadKernelShape(ctx, rank, &kernel); !s.ok()) return s;
  if (kernel.empty()) return ctx.InvalidArgument("missing attribute 'kernel_shape'");
  const bool include_pad = ctx.GetInt("count_include_pad", 0) != 0;
  const bool ceil_mode = ctx.GetInt("ceil_mode", 0) != 0;
  std::vector<int64_t> in(x.shape().begin() + 2, x.shape().end());
  WindowGeometry g;
  if (absl::Status s = ComputeForwardWindow(ctx, "X", in, kernel, ceil_mode, kMax, &g); !s.ok()) {
    return s;
  }
  std::vector<int64_t> out_shape = {x.dim(0), x.dim(1)};
  for (int64_t d : g.OutDims()) out_shape.push_back(d);
  if (dy.shape() != out_shape) {
    return ctx.InvalidArgument(absl::StrCat("input 'YGrad' has shape ", ShapeString(dy.shape()),
                                            "; expected the pool's output shape ",
                                            ShapeString(out_shape)));
  }
  Tensor* dx = ctx.Output(0, x.dtype(), x.shape());
  const int64_t planes = x.dim(0) * x.dim(1), isz = g.in_size(), osz = g.out_size();
  const T* xp = x.data<T>();
  const T* dyp = dy.data<T>();
  T* dxp = dx->data<T>();
  ctx.ParallelFor(
      planes, std::max<int64_t>(1, kGrain / std::max<int64_t>(1, osz * g.kernel_size())),
      [&](int64_t begin, int64_t end) {
        for (int64_t p = begin; p < end; ++p) {
          PoolGradPlane<T, kMax>(xp + p * isz, dyp + p * osz, g, include_pad, dxp + p * isz);
        }
      });
  return absl::OkStatus();
}

template <typename T, bool kMax>
absl::Status GlobalPoolGradKernel(KernelContext& ctx) {
  if (!ctx.has_input(0) || !ctx.has_input(1)) {
    return ctx.InvalidArgument("needs inputs 'X' and 'YGrad'");
  }
  const Tensor& x = ctx.input(0);
  const Tensor& dy = ctx.input(1);
  if (x.rank() < 2 || dy.dtype() != x.dtype()) {
    return ctx.InvalidArgument(absl::StrCat("inputs 'X' ", x.TypeString(), " and 'YGrad' ",
                                            dy.TypeString(),
                                            "; expected X [N,C,...] and YGrad of its dtype"));
  }
  const int64_t planes = x.dim(0) * x.dim(1);
  if (dy.numel() != planes) {
    return ctx.InvalidArgument(absl::StrCat("input 'YGrad' has shape ", ShapeString(dy.shape()),
                                            "; expected one value per (image, channel) of X ",
                                            ShapeString(x.shape())));
  }
  Tensor* dx = ctx.Output(0, x.dtype(), x.shape());
  const int64_t isz = planes == 0 ? 0 : x.numel() / planes;
  const T* xp = x.data<T>();
  const T* dyp = dy.data<T>();
  T* dxp = dx->data<T>();
  ctx.ParallelFor(planes, std::max<int64_t>(1, kGrain / std::max<int64_t>(1, isz)),
                  [&](int64_t begin, int64_t end) {
                    for (int64_t p = begin; p < end; ++p) {
                      const T* v = xp + p * isz;
                      T* d = dxp + p * isz;
                      if (kMax) {
                        std::fill(d, d + isz, T{0});
                        int64_t best = 0;
                        for (int64_t i = 1; i < isz; ++i) best = v[i] > v[best] ? i : best;
                        if (isz > 0) d[best] = dyp[p];
                      } else {
                        std::fill(d, d + isz, isz > 0 ? dyp[p] / static_cast<T>(isz) : T{0});
                      }
                    }
                  });
  return absl::OkStatus();
}

}  // namespace

void RegisterPoolGradKernels(KernelTable& table) {
  table.Add("fleet.max_pool_grad", Device::kCpu, {DataType::kF32}, &PoolGradKernel<float, true>);
  table.Add("fleet.max_pool_grad", Device::kCpu, {DataType::kF64}, &PoolGradKernel<double, true>);
  table.Add("fleet.avg_pool_grad", Device::kCpu, {DataType::kF32}, &PoolGradKernel<float, false>);
  table.Add("fleet.avg_pool_grad", Device::kCpu, {DataType::kF64}, &PoolGradKernel<double, false>);
  table.Add("fleet.global_max_pool_grad", Device::kCpu, {DataType::kF32},
            &GlobalPoolGradKernel<float, true>);
  table.Add("fleet.global_max_pool_grad", Device::kCpu, {DataType::kF64},
            &GlobalPoolGradKernel<double, true>);
  table.Add("fleet.global_avg_pool_grad", Device::kCpu, {DataType::kF32},
            &GlobalPoolGradKernel<float, false>);
  table.Add("fleet.global_avg_pool_grad", Device::kCpu, {DataType::kF64},
            &GlobalPoolGradKernel<double, false>);
}

}  // namespace fleet::cpu
