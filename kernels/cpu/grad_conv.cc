// Gradients of Conv (1-D, 2-D, 3-D; groups, pads, strides, dilations, auto_pad):
//   fleet.conv_grad_input(X, W, YGrad) -> XGrad: per group, the column gradient
//       W_g^T [C/group * prod(kernel), M/group] x YGrad_g [M/group, out] (one GEMM), added back
//       into the image by col2im (im2col.h);
//   fleet.conv_grad_filter(X, W, YGrad) -> WGrad, BGrad?: per group,
//       WGrad_g += YGrad_g [M/group, out] x im2col(X_g)^T [out, C/group * prod(kernel)],
//       and BGrad the sum of YGrad over the batch and the spatial dims.
// As in the forward (conv.cc), several images share one GEMM when their output planes are small
// (their columns side by side, YGrad gathered into [M/group, images * out]), a 1x1 kernel with
// unit strides and no pads uses the image itself as the column matrix, and depthwise
// convolutions (one input channel per group) run direct loops in parallel over planes. The
// GEMMs are Fleet's packed SGEMM for f32 (gemm.h), threaded over the op's pool.
#include <algorithm>
#include <array>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "kernels/cpu/gemm.h"
#include "kernels/cpu/groups.h"
#include "kernels/cpu/im2col.h"
#include "kernels/cpu/in_float.h"
#include "kernels/cpu/vec_loops.h"
#include "kernels/cpu/window.h"

namespace fleet::cpu {
namespace {

constexpr int64_t kGrain = 32 * 1024;
// Fewest GEMM columns (output positions) worth one GEMM call.
constexpr int64_t kMinGemmCols = 1024;

// The shapes of one Conv, checked as the forward checks them.
struct ConvDims {
  int64_t n = 0, c = 0, m = 0, group = 1, cg = 0, mg = 0;
  WindowGeometry g;
  int64_t isz = 0, osz = 0, ksz = 0, rows = 0;
  // Images per GEMM: enough columns for a GEMM worth its call.
  int64_t per_gemm = 1;
  bool depthwise = false;  // one input channel per group, several groups
  bool pointwise = false;  // 1x1 kernel, unit strides, no pads: the image is the column matrix
};

absl::Status ReadConvDims(const KernelContext& ctx, ConvDims* d) {
  if (!ctx.has_input(0) || !ctx.has_input(1) || !ctx.has_input(2)) {
    return ctx.InvalidArgument("needs inputs 'X', 'W' and 'YGrad'");
  }
  const Tensor& x = ctx.input(0);
  const Tensor& w = ctx.input(1);
  const Tensor& dy = ctx.input(2);
  if (x.rank() < 3 || w.rank() != x.rank() || w.dtype() != x.dtype() || dy.dtype() != x.dtype()) {
    return ctx.InvalidArgument(absl::StrCat("inputs 'X' ", x.TypeString(), ", 'W' ", w.TypeString(),
                                            ", 'YGrad' ", dy.TypeString(),
                                            "; expected one dtype and X, W of one rank >= 3"));
  }
  const int rank = x.rank() - 2;
  d->n = x.dim(0);
  d->c = x.dim(1);
  d->m = w.dim(0);
  d->group = ctx.GetInt("group", 1);
  if (d->group < 1 || d->c % d->group != 0 || d->m % d->group != 0 || w.dim(1) != d->c / d->group) {
    return ctx.InvalidArgument(absl::StrCat("attribute 'group' ", d->group, " does not fit X ",
                                            ShapeString(x.shape()), " and W ",
                                            ShapeString(w.shape())));
  }
  d->cg = d->c / d->group;
  d->mg = d->m / d->group;
  std::vector<int64_t> kernel(w.shape().begin() + 2, w.shape().end());
  for (int64_t k : kernel) {
    if (k < 1) return ctx.InvalidArgument("input 'W' needs positive kernel dims");
  }
  std::vector<int64_t> attr_kernel = kernel;
  if (absl::Status s = ReadKernelShape(ctx, rank, &attr_kernel); !s.ok()) return s;
  if (attr_kernel != kernel) {
    return ctx.InvalidArgument(absl::StrCat("attribute 'kernel_shape' is ",
                                            ShapeString(attr_kernel), "; expected ",
                                            ShapeString(kernel), " from input 'W'"));
  }
  std::vector<int64_t> in(x.shape().begin() + 2, x.shape().end());
  if (absl::Status s = ComputeForwardWindow(ctx, "X", in, kernel, false, true, &d->g); !s.ok()) {
    return s;
  }
  std::vector<int64_t> out_shape = {d->n, d->m};
  for (int64_t o : d->g.OutDims()) out_shape.push_back(o);
  if (dy.shape() != out_shape) {
    return ctx.InvalidArgument(absl::StrCat("input 'YGrad' has shape ", ShapeString(dy.shape()),
                                            "; expected Conv's output shape ",
                                            ShapeString(out_shape)));
  }
  d->isz = d->g.in_size();
  d->osz = d->g.out_size();
  d->ksz = d->g.kernel_size();
  d->rows = d->cg * d->ksz;
  d->per_gemm = std::min(
      d->n, std::max<int64_t>(1, (kMinGemmCols + d->osz - 1) / std::max<int64_t>(1, d->osz)));
  d->depthwise = d->cg == 1 && d->group > 1;
  d->pointwise = d->ksz == 1 && d->g.stride == std::array<int64_t, 3>{1, 1, 1} &&
                 d->g.pad_begin == std::array<int64_t, 3>{0, 0, 0} &&
                 d->g.pad_end == std::array<int64_t, 3>{0, 0, 0};
  if (!GemmDimsFit(d->rows, d->per_gemm * d->osz, d->mg) || !GemmDimsFit(d->mg, d->rows, 1)) {
    return ctx.InvalidArgument("Conv dims exceed the 32-bit limit of the BLAS backend");
  }
  return absl::OkStatus();
}

// Copies group `grp`'s YGrad planes of images [img0, img0 + cnt) side by side into
// dst [mg, cnt * osz].
template <typename T>
void GatherGroup(const T* dy, const ConvDims& d, int64_t img0, int64_t cnt, int64_t grp, T* dst) {
  const int64_t cols = cnt * d.osz;
  for (int64_t i = 0; i < cnt; ++i) {
    for (int64_t oc = 0; oc < d.mg; ++oc) {
      std::memcpy(dst + oc * cols + i * d.osz, dy + ((img0 + i) * d.m + grp * d.mg + oc) * d.osz,
                  sizeof(T) * d.osz);
    }
  }
}

// Visits every (output row, kernel tap) pair of a window: fn(x_off, y_off, lo, hi, tap) where
// output positions [lo, hi) of the row at y_off read input x_off + ow * stride.
template <typename Fn>
void ForEachTapRow(const WindowGeometry& g, Fn fn) {
  for (int64_t od = 0; od < g.out[0]; ++od) {
    for (int64_t oh = 0; oh < g.out[1]; ++oh) {
      const int64_t y_off = (od * g.out[1] + oh) * g.out[2];
      for (int64_t kd = 0; kd < g.kernel[0]; ++kd) {
        const int64_t id = od * g.stride[0] + kd * g.dilation[0] - g.pad_begin[0];
        if (id < 0 || id >= g.in[0]) continue;
        for (int64_t kh = 0; kh < g.kernel[1]; ++kh) {
          const int64_t ih = oh * g.stride[1] + kh * g.dilation[1] - g.pad_begin[1];
          if (ih < 0 || ih >= g.in[1]) continue;
          for (int64_t kw = 0; kw < g.kernel[2]; ++kw) {
            const int64_t off_w = kw * g.dilation[2] - g.pad_begin[2];
            int64_t lo, hi;
            ValidRange(off_w, g.stride[2], g.in[2], g.out[2], &lo, &hi);
            fn((id * g.in[1] + ih) * g.in[2] + off_w, y_off, lo, hi,
               (kd * g.kernel[1] + kh) * g.kernel[2] + kw);
          }
        }
      }
    }
  }
}

template <typename T>
absl::Status ConvGradInputKernel(KernelContext& ctx) {
  ConvDims d;
  if (absl::Status s = ReadConvDims(ctx, &d); !s.ok()) return s;
  const Tensor& x = ctx.input(0);
  const T* wp = ctx.input(1).data<T>();
  const T* dy = ctx.input(2).data<T>();
  Tensor* dx_t = ctx.Output(0, x.dtype(), x.shape());
  T* dx = dx_t->data<T>();
  if (dx_t->numel() == 0) return absl::OkStatus();
  if (d.osz == 0 || d.m == 0) {
    std::fill(dx, dx + dx_t->numel(), T{0});
    return absl::OkStatus();
  }
  const WindowGeometry& g = d.g;
  const int64_t sw = g.stride[2];
  if (d.depthwise) {
    ctx.ParallelFor(d.n * d.c, std::max<int64_t>(1, kGrain / std::max<int64_t>(1, d.osz * d.ksz)),
                    [&](int64_t begin, int64_t end) {
                      for (int64_t p = begin; p < end; ++p) {
                        const int64_t img = p / d.c, ic = p % d.c;
                        T* plane = dx + p * d.isz;
                        std::fill(plane, plane + d.isz, T{0});
                        for (int64_t oc = ic * d.mg; oc < (ic + 1) * d.mg; ++oc) {
                          const T* yp = dy + (img * d.m + oc) * d.osz;
                          const T* w = wp + oc * d.ksz;
                          ForEachTapRow(
                              g, [&](int64_t xo, int64_t yo, int64_t lo, int64_t hi, int64_t tap) {
                                const T wv = w[tap];
                                T* xr = plane + xo;
                                const T* yr = yp + yo;
                                for (int64_t ow = lo; ow < hi; ++ow) xr[ow * sw] += wv * yr[ow];
                              });
                        }
                      }
                    });
    return absl::OkStatus();
  }
  if (d.pointwise) {
    // XGrad_g[img] = W_g^T [cg, mg] x YGrad_g[img] [mg, osz].
    for (int64_t img = 0; img < d.n; ++img) {
      for (int64_t grp = 0; grp < d.group; ++grp) {
        GemmRowMajor<T>(true, false, d.cg, d.osz, d.mg, 1.0, wp + grp * d.mg * d.cg, d.cg,
                        dy + (img * d.m + grp * d.mg) * d.osz, d.osz, 0.0,
                        dx + (img * d.c + grp * d.cg) * d.isz, d.isz, ctx.pool());
      }
    }
    return absl::OkStatus();
  }
  std::vector<T> col(static_cast<size_t>(d.rows * d.per_gemm * d.osz));
  std::vector<T> gathered(d.per_gemm > 1 ? static_cast<size_t>(d.mg * d.per_gemm * d.osz) : 0);
  for (int64_t img0 = 0; img0 < d.n; img0 += d.per_gemm) {
    const int64_t cnt = std::min(d.per_gemm, d.n - img0), cols = cnt * d.osz;
    for (int64_t grp = 0; grp < d.group; ++grp) {
      const T* dyg = dy + (img0 * d.m + grp * d.mg) * d.osz;
      if (cnt > 1) {
        GatherGroup(dy, d, img0, cnt, grp, gathered.data());
        dyg = gathered.data();
      }
      GemmRowMajor<T>(true, false, d.rows, cols, d.mg, 1.0, wp + grp * d.mg * d.rows, d.rows, dyg,
                      cols, 0.0, col.data(), cols, ctx.pool());
      Col2Im(ctx, col.data(), cnt, d.cg, g, dx + (img0 * d.c + grp * d.cg) * d.isz, d.c * d.isz);
    }
  }
  return absl::OkStatus();
}

template <typename T>
absl::Status ConvGradFilterKernel(KernelContext& ctx) {
  ConvDims d;
  if (absl::Status s = ReadConvDims(ctx, &d); !s.ok()) return s;
  const Tensor& w = ctx.input(1);
  const T* xp = ctx.input(0).data<T>();
  const T* dy = ctx.input(2).data<T>();
  Tensor* dw_t = ctx.Output(0, w.dtype(), w.shape());
  T* dw = dw_t->data<T>();
  if (ctx.num_outputs() > 1) {
    T* db = ctx.Output(1, w.dtype(), {d.m})->template data<T>();
    ctx.ParallelFor(d.m, std::max<int64_t>(1, kGrain / std::max<int64_t>(1, d.n * d.osz)),
                    [&](int64_t begin, int64_t end) {
                      for (int64_t oc = begin; oc < end; ++oc) {
                        T acc = 0;
                        for (int64_t img = 0; img < d.n; ++img) {
                          acc += RowSum(dy + (img * d.m + oc) * d.osz, d.osz);
                        }
                        db[oc] = acc;
                      }
                    });
  }
  if (dw_t->numel() == 0) return absl::OkStatus();
  std::fill(dw, dw + dw_t->numel(), T{0});
  if (d.n == 0 || d.osz == 0) return absl::OkStatus();
  const WindowGeometry& g = d.g;
  const int64_t sw = g.stride[2];
  if (d.depthwise) {
    ctx.ParallelFor(d.m, std::max<int64_t>(1, kGrain / std::max<int64_t>(1, d.n * d.osz * d.ksz)),
                    [&](int64_t begin, int64_t end) {
                      for (int64_t oc = begin; oc < end; ++oc) {
                        const int64_t ic = oc / d.mg;
                        T* wg = dw + oc * d.ksz;
                        for (int64_t img = 0; img < d.n; ++img) {
                          const T* yp = dy + (img * d.m + oc) * d.osz;
                          const T* plane = xp + (img * d.c + ic) * d.isz;
                          ForEachTapRow(
                              g, [&](int64_t xo, int64_t yo, int64_t lo, int64_t hi, int64_t tap) {
                                const T* xr = plane + xo;
                                const T* yr = yp + yo;
                                T acc = 0;
                                for (int64_t ow = lo; ow < hi; ++ow) acc += yr[ow] * xr[ow * sw];
                                wg[tap] += acc;
                              });
                        }
                      }
                    });
    return absl::OkStatus();
  }
  const bool direct = d.pointwise && d.per_gemm == 1;
  std::vector<T> col(direct ? 0 : static_cast<size_t>(d.rows * d.per_gemm * d.osz));
  std::vector<T> gathered(d.per_gemm > 1 ? static_cast<size_t>(d.mg * d.per_gemm * d.osz) : 0);
  for (int64_t img0 = 0; img0 < d.n; img0 += d.per_gemm) {
    const int64_t cnt = std::min(d.per_gemm, d.n - img0), cols = cnt * d.osz;
    for (int64_t grp = 0; grp < d.group; ++grp) {
      const T* mat = xp + (img0 * d.c + grp * d.cg) * d.isz;
      if (!direct) {
        Im2Col(ctx, mat, d.c * d.isz, cnt, d.cg, g, col.data());
        mat = col.data();
      }
      const T* dyg = dy + (img0 * d.m + grp * d.mg) * d.osz;
      if (cnt > 1) {
        GatherGroup(dy, d, img0, cnt, grp, gathered.data());
        dyg = gathered.data();
      }
      // WGrad_g [mg, rows] += YGrad_g [mg, cols] x col^T [cols, rows].
      GemmRowMajor<T>(false, true, d.mg, d.rows, cols, 1.0, dyg, cols, mat, cols, 1.0,
                      dw + grp * d.mg * d.rows, d.rows, ctx.pool());
    }
  }
  return absl::OkStatus();
}

}  // namespace

void RegisterConvGradKernels(KernelTable& table) {
  table.Add("fleet.conv_grad_input", Device::kCpu, {DataType::kF32}, &ConvGradInputKernel<float>);
  table.Add("fleet.conv_grad_input", Device::kCpu, {DataType::kF64}, &ConvGradInputKernel<double>);
  table.Add("fleet.conv_grad_filter", Device::kCpu, {DataType::kF32}, &ConvGradFilterKernel<float>);
  table.Add("fleet.conv_grad_filter", Device::kCpu, {DataType::kF64},
            &ConvGradFilterKernel<double>);
  table.Add("fleet.conv_grad_input", Device::kCpu, {DataType::kF16, DataType::kBF16},
            &InFloat<&ConvGradInputKernel<float>>);
  table.Add("fleet.conv_grad_filter", Device::kCpu, {DataType::kF16, DataType::kBF16},
            &InFloat<&ConvGradFilterKernel<float>>);
}

}  // namespace fleet::cpu
