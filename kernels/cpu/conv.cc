// Conv (1-D, 2-D, 3-D; groups, pads, strides, dilations, auto_pad, bias).
//
// Per image and group, the input patches are unrolled (im2col, see im2col.h) into a
// [C/group * prod(kernel), prod(out)] matrix and multiplied by the group's
// [M/group, C/group * prod(kernel)] weights with one GEMM, which OpenBLAS threads. When output
// planes are small, several images share one GEMM (their columns side by side) so it is not too
// thin. A 1x1 kernel with unit strides and no pads on a large plane needs no unrolling: the
// image itself is the matrix. Convolutions with one input channel per group (depthwise) run a
// direct loop parallel over output planes, since their per-group GEMMs would be tiny.
#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "ir/status_macros.h"
#include "kernels/cpu/conv_gemm.h"
#include "kernels/cpu/conv_transpose.h"
#include "kernels/cpu/gemm.h"
#include "kernels/cpu/groups.h"
#include "kernels/cpu/im2col.h"
#include "kernels/cpu/in_float.h"
#include "kernels/cpu/vec_loops.h"
#include "kernels/cpu/window.h"

namespace fleet::cpu {
namespace {

constexpr int64_t kGrain = 32 * 1024;
// Fewest GEMM columns (output positions) worth one GEMM call; see ConvKernel.
constexpr int64_t kMinGemmCols = 1024;

// Direct convolution of one input plane with one filter, accumulated into one
// output plane.
template <typename T>
void DirectConvPlane(const T* x, const T* w, const WindowGeometry& g, T* y) {
  const int64_t ow_n = g.out[2], sw = g.stride[2];
  for (int64_t od = 0; od < g.out[0]; ++od) {
    for (int64_t oh = 0; oh < g.out[1]; ++oh) {
      T* yr = y + (od * g.out[1] + oh) * ow_n;
      for (int64_t kd = 0; kd < g.kernel[0]; ++kd) {
        const int64_t id = od * g.stride[0] + kd * g.dilation[0] - g.pad_begin[0];
        if (id < 0 || id >= g.in[0]) continue;
        for (int64_t kh = 0; kh < g.kernel[1]; ++kh) {
          const int64_t ih = oh * g.stride[1] + kh * g.dilation[1] - g.pad_begin[1];
          if (ih < 0 || ih >= g.in[1]) continue;
          for (int64_t kw = 0; kw < g.kernel[2]; ++kw) {
            const T wv = w[(kd * g.kernel[1] + kh) * g.kernel[2] + kw];
            const int64_t off_w = kw * g.dilation[2] - g.pad_begin[2];
            int64_t lo, hi;
            ValidRange(off_w, sw, g.in[2], ow_n, &lo, &hi);
            const T* xr = x + (id * g.in[1] + ih) * g.in[2] + off_w;
            if (sw == 1) {
              for (int64_t ow = lo; ow < hi; ++ow) yr[ow] += wv * xr[ow];
            } else {
              for (int64_t ow = lo; ow < hi; ++ow) yr[ow] += wv * xr[ow * sw];
            }
          }
        }
      }
    }
  }
}

template <typename T>
absl::Status ConvKernel(KernelContext& ctx) {
  FLEET_RETURN_IF_ERROR(CheckConvInputs(ctx, "Conv"));
  const Tensor& x = ctx.input(0);
  const Tensor& w = ctx.input(1);
  const int rank = x.rank() - 2;
  const int64_t group = ctx.GetInt("group", 1);
  const int64_t n = x.dim(0), c = x.dim(1), m = w.dim(0);
  if (group < 1 || c % group != 0) {
    return ctx.InvalidArgument(absl::StrCat(
        "attribute 'group' is ", group, "; expected a positive divisor of X's ", c, " channels"));
  }
  const int64_t cg = c / group;
  if (w.dim(1) != cg) {
    return ctx.InvalidArgument(absl::StrCat("input 'W' has ", w.dim(1),
                                            " input channels per group; expected ", cg, " (X has ",
                                            c, " channels, group ", group, ")"));
  }
  if (m % group != 0) {
    return ctx.InvalidArgument(absl::StrCat(
        "input 'W' has ", m, " output channels; expected a multiple of group ", group));
  }
  const int64_t mg = m / group;
  std::vector<int64_t> kernel(w.shape().begin() + 2, w.shape().end());
  for (int64_t k : kernel) {
    if (k < 1) {
      return ctx.InvalidArgument(absl::StrCat("input 'W' has shape ", ShapeString(w.shape()),
                                              "; expected positive kernel dims"));
    }
  }
  std::vector<int64_t> attr_kernel = kernel;
  if (absl::Status s = ReadKernelShape(ctx, rank, &attr_kernel); !s.ok()) return s;
  if (attr_kernel != kernel) {
    return ctx.InvalidArgument(
        absl::StrCat("attribute 'kernel_shape' is ", ShapeString(attr_kernel), "; expected ",
                     ShapeString(kernel), " from input 'W' ", ShapeString(w.shape())));
  }
  FLEET_RETURN_IF_ERROR(CheckConvBias(ctx, m, "one per output channel of 'W'"));
  const T* bias = ctx.has_input(2) ? ctx.input(2).data<T>() : nullptr;
  std::vector<int64_t> in(x.shape().begin() + 2, x.shape().end());
  WindowGeometry g;
  if (absl::Status s = ComputeForwardWindow(ctx, "X", in, kernel, false, true, &g); !s.ok()) {
    return s;
  }
  std::vector<int64_t> out_shape = {n, m};
  for (int64_t d : g.OutDims()) out_shape.push_back(d);
  Tensor* y = ctx.Output(0, x.dtype(), out_shape);
  if (y->numel() == 0) return absl::OkStatus();
  const int64_t isz = g.in_size(), osz = g.out_size(), ksz = g.kernel_size();
  const int64_t rows = cg * ksz;
  if (!GemmDimsFit(mg, osz, rows)) {
    return ctx.InvalidArgument("Conv dims exceed the 32-bit limit of the BLAS backend");
  }
  const T* xp = x.data<T>();
  const T* wp = w.data<T>();
  T* yp = y->data<T>();

  if (cg == 1 && group > 1) {
    // Depthwise-style: every output plane reads one input plane.
    ctx.ParallelFor(n * m, std::max<int64_t>(1, kGrain / std::max<int64_t>(1, osz * ksz)),
                    [&](int64_t begin, int64_t end) {
                      for (int64_t p = begin; p < end; ++p) {
                        const int64_t img = p / m, oc = p % m, ic = oc / mg;
                        T* yplane = yp + p * osz;
                        std::fill(yplane, yplane + osz, bias ? bias[oc] : T{0});
                        DirectConvPlane(xp + (img * c + ic) * isz, wp + oc * ksz, g, yplane);
                      }
                    });
    return absl::OkStatus();
  }

  const bool pointwise = ksz == 1 && g.stride == std::array<int64_t, 3>{1, 1, 1} &&
                         g.pad_begin == std::array<int64_t, 3>{0, 0, 0} &&
                         g.pad_end == std::array<int64_t, 3>{0, 0, 0};
  // Small output planes make thin GEMMs; several images then share one GEMM, their columns side
  // by side ([rows, images * osz]), and the result is scattered back per image.
  const int64_t per_gemm = std::min(n, std::max<int64_t>(1, (kMinGemmCols + osz - 1) / osz));
  const bool direct = pointwise && per_gemm == 1;  // the image itself is the column matrix
  std::vector<T> col(direct ? 0 : static_cast<size_t>(rows * per_gemm * osz));
  std::vector<T> tmp(per_gemm > 1 ? static_cast<size_t>(mg * per_gemm * osz) : 0);
  const ConvWeightGemm<T> wgemm(ctx, 1, wp, group, mg * rows, false, mg, rows, rows);
  for (int64_t img0 = 0; img0 < n; img0 += per_gemm) {
    const int64_t cnt = std::min(per_gemm, n - img0), cols = cnt * osz;
    for (int64_t grp = 0; grp < group; ++grp) {
      const T* mat = xp + (img0 * c + grp * cg) * isz;
      if (!direct) {
        Im2Col(ctx, mat, c * isz, cnt, cg, g, col.data());
        mat = col.data();
      }
      if (cnt == 1) {
        wgemm.Run(grp, mat, osz, osz, yp + (img0 * m + grp * mg) * osz, osz);
        continue;
      }
      wgemm.Run(grp, mat, cols, cols, tmp.data(), cols);
      for (int64_t i = 0; i < cnt; ++i) {
        for (int64_t oc = 0; oc < mg; ++oc) {
          std::memcpy(yp + ((img0 + i) * m + grp * mg + oc) * osz, tmp.data() + oc * cols + i * osz,
                      sizeof(T) * osz);
        }
      }
    }
  }
  if (bias != nullptr) {
    ctx.ParallelFor(n * m, std::max<int64_t>(1, kGrain / std::max<int64_t>(1, osz)),
                    [&](int64_t begin, int64_t end) {
                      for (int64_t p = begin; p < end; ++p) {
                        AddScalarInPlace(yp + p * osz, bias[p % m], osz);
                      }
                    });
  }
  return absl::OkStatus();
}

}  // namespace

void RegisterConvKernels(KernelTable& table) {
  table.Add("Conv", Device::kCpu, {DataType::kF32}, &ConvKernel<float>);
  table.Add("Conv", Device::kCpu, {DataType::kF64}, &ConvKernel<double>);
  table.Add("Conv", Device::kCpu, {DataType::kF16, DataType::kBF16}, &InFloat<&ConvKernel<float>>);
  RegisterConvTransposeKernels(table);
}

}  // namespace fleet::cpu
