// ConvTranspose (1-D, 2-D, 3-D; groups, pads, strides, dilations,
// output_padding, output_shape, auto_pad, bias): per image and group, one GEMM
// W_g^T * X_g gives every kernel tap's contribution for every input position
// ([M/group * prod(kernel), prod(in)]); col2im then adds them into the output,
// parallel over output channels (each writes only its own planes).
#include "kernels/cpu/conv_transpose.h"

#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "ir/status_macros.h"
#include "kernels/cpu/conv_gemm.h"
#include "kernels/cpu/gemm.h"
#include "kernels/cpu/window.h"

namespace fleet::cpu {
namespace {

// Adds one column row (kernel tap kd, kh, kw over every input position) into an
// output plane.
template <typename T>
void Col2ImRow(const T* row, const WindowGeometry& g, int64_t kd, int64_t kh, int64_t kw, T* y) {
  const int64_t iw_n = g.in[2], sw = g.stride[2];
  const int64_t off_w = kw * g.dilation[2] - g.pad_begin[2];
  int64_t lo, hi;
  ValidRange(off_w, sw, g.out[2], iw_n, &lo, &hi);
  for (int64_t id = 0; id < g.in[0]; ++id) {
    const int64_t od = id * g.stride[0] + kd * g.dilation[0] - g.pad_begin[0];
    for (int64_t ih = 0; ih < g.in[1]; ++ih, row += iw_n) {
      const int64_t oh = ih * g.stride[1] + kh * g.dilation[1] - g.pad_begin[1];
      if (od < 0 || od >= g.out[0] || oh < 0 || oh >= g.out[1]) continue;
      T* yr = y + (od * g.out[1] + oh) * g.out[2] + off_w;
      if (sw == 1) {
        for (int64_t iw = lo; iw < hi; ++iw) yr[iw] += row[iw];
      } else {
        for (int64_t iw = lo; iw < hi; ++iw) yr[iw * sw] += row[iw];
      }
    }
  }
}

// Output dims and pads (ONNX ConvTranspose, opset 11+).
absl::Status ComputeTransposeWindow(const KernelContext& ctx, const std::vector<int64_t>& in,
                                    const std::vector<int64_t>& kernel, WindowGeometry* g) {
  const int rank = static_cast<int>(in.size());
  if (absl::Status s = ReadWindowAttrs(ctx, rank, true, g); !s.ok()) return s;
  const int off = 3 - rank;
  const std::string auto_pad = ctx.GetString("auto_pad", "NOTSET");
  if (auto_pad != "NOTSET" && auto_pad != "VALID" && auto_pad != "SAME_UPPER" &&
      auto_pad != "SAME_LOWER") {
    return ctx.InvalidArgument(absl::StrCat("attribute 'auto_pad' is '", auto_pad,
                                            "'; expected NOTSET, SAME_UPPER, SAME_LOWER or VALID"));
  }
  std::vector<int64_t> out_pad = ctx.GetInts("output_padding", std::vector<int64_t>(rank, 0));
  if (static_cast<int>(out_pad.size()) != rank) {
    return ctx.InvalidArgument(absl::StrCat("attribute 'output_padding' has ", out_pad.size(),
                                            " entries; expected ", rank));
  }
  std::vector<int64_t> out_shape = ctx.GetInts("output_shape", {});
  if (static_cast<int>(out_shape.size()) == rank + 2) {  // given with N and C: keep spatial
    out_shape.erase(out_shape.begin(), out_shape.begin() + 2);
  }
  if (!out_shape.empty() && static_cast<int>(out_shape.size()) != rank) {
    return ctx.InvalidArgument(absl::StrCat("attribute 'output_shape' is ", ShapeString(out_shape),
                                            "; expected ", rank, " spatial dims"));
  }
  for (int i = 0; i < rank; ++i) {
    const int j = off + i;
    g->in[j] = in[i];
    g->kernel[j] = kernel[i];
    if (out_pad[i] < 0) {
      return ctx.InvalidArgument(absl::StrCat("attribute 'output_padding' is ",
                                              ShapeString(out_pad), "; expected entries >= 0"));
    }
    const int64_t s = g->stride[j];
    const int64_t natural = s * (in[i] - 1) + out_pad[i] + (kernel[i] - 1) * g->dilation[j] + 1;
    const bool same = auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER";
    if (!out_shape.empty() || same) {
      const int64_t target = !out_shape.empty() ? out_shape[i] : in[i] * s;
      // A target larger than the natural size pads at the end (as ONNX Runtime
      // does).
      const int64_t total = std::max<int64_t>(0, natural - target);
      const int64_t half = total / 2;
      g->pad_begin[j] = auto_pad == "SAME_UPPER" ? half : total - half;
      g->pad_end[j] = total - g->pad_begin[j];
      g->out[j] = target;
    } else {
      if (auto_pad == "VALID") g->pad_begin[j] = g->pad_end[j] = 0;
      g->out[j] = natural - g->pad_begin[j] - g->pad_end[j];
    }
    if (g->out[j] < 1) {
      return ctx.InvalidArgument(absl::StrCat("output spatial dim ", i, " would be ", g->out[j],
                                              " (input 'X' dim ", in[i],
                                              "); expected >= 1: pads are too large"));
    }
  }
  return absl::OkStatus();
}

template <typename T>
absl::Status ConvTransposeKernel(KernelContext& ctx) {
  FLEET_RETURN_IF_ERROR(CheckConvInputs(ctx, "ConvTranspose"));
  const Tensor& x = ctx.input(0);
  const Tensor& w = ctx.input(1);
  const int rank = x.rank() - 2;
  const int64_t group = ctx.GetInt("group", 1);
  const int64_t n = x.dim(0), c = x.dim(1);
  if (group < 1 || c % group != 0) {
    return ctx.InvalidArgument(absl::StrCat(
        "attribute 'group' is ", group, "; expected a positive divisor of X's ", c, " channels"));
  }
  if (w.dim(0) != c) {
    return ctx.InvalidArgument(absl::StrCat("input 'W' has ", w.dim(0),
                                            " input channels (dim 0); expected ", c,
                                            " to match 'X' ", ShapeString(x.shape())));
  }
  const int64_t cg = c / group, mg = w.dim(1), m = mg * group;
  std::vector<int64_t> kernel(w.shape().begin() + 2, w.shape().end());
  std::vector<int64_t> attr_kernel = kernel;
  if (absl::Status s = ReadKernelShape(ctx, rank, &attr_kernel); !s.ok()) return s;
  if (attr_kernel != kernel) {
    return ctx.InvalidArgument(
        absl::StrCat("attribute 'kernel_shape' is ", ShapeString(attr_kernel), "; expected ",
                     ShapeString(kernel), " from input 'W' ", ShapeString(w.shape())));
  }
  for (int64_t k : kernel) {
    if (k < 1) {
      return ctx.InvalidArgument(absl::StrCat("input 'W' has shape ", ShapeString(w.shape()),
                                              "; expected positive kernel dims"));
    }
  }
  FLEET_RETURN_IF_ERROR(CheckConvBias(ctx, m, "W's dim 1 times group"));
  const T* bias = ctx.has_input(2) ? ctx.input(2).data<T>() : nullptr;
  std::vector<int64_t> in(x.shape().begin() + 2, x.shape().end());
  WindowGeometry g;
  if (absl::Status s = ComputeTransposeWindow(ctx, in, kernel, &g); !s.ok()) return s;
  std::vector<int64_t> out_shape = {n, m};
  for (int64_t d : g.OutDims()) out_shape.push_back(d);
  Tensor* y = ctx.Output(0, x.dtype(), out_shape);
  if (y->numel() == 0) return absl::OkStatus();
  const int64_t isz = g.in_size(), osz = g.out_size(), ksz = g.kernel_size();
  const int64_t rows = mg * ksz;
  if (!GemmDimsFit(rows, isz, cg)) {
    return ctx.InvalidArgument("ConvTranspose dims exceed the 32-bit limit of the BLAS backend");
  }
  const T* xp = x.data<T>();
  const T* wp = w.data<T>();
  T* yp = y->data<T>();
  std::vector<T> col(static_cast<size_t>(rows * isz));
  const ConvWeightGemm<T> wgemm(ctx, 1, wp, group, cg * rows, true, rows, cg, rows);
  for (int64_t img = 0; img < n; ++img) {
    for (int64_t grp = 0; grp < group; ++grp) {
      wgemm.Run(grp, xp + (img * c + grp * cg) * isz, isz, isz, col.data(), isz);
      T* yg = yp + (img * m + grp * mg) * osz;
      ctx.ParallelFor(mg, std::max<int64_t>(1, 32 * 1024 / std::max<int64_t>(1, ksz * isz)),
                      [&](int64_t begin, int64_t end) {
                        for (int64_t oc = begin; oc < end; ++oc) {
                          T* plane = yg + oc * osz;
                          std::fill(plane, plane + osz, bias ? bias[grp * mg + oc] : T{0});
                          for (int64_t k = 0; k < ksz; ++k) {
                            const int64_t kw = k % g.kernel[2];
                            const int64_t kh = (k / g.kernel[2]) % g.kernel[1];
                            const int64_t kd = k / (g.kernel[2] * g.kernel[1]);
                            Col2ImRow(col.data() + (oc * ksz + k) * isz, g, kd, kh, kw, plane);
                          }
                        }
                      });
    }
  }
  return absl::OkStatus();
}

}  // namespace

void RegisterConvTransposeKernels(KernelTable& table) {
  table.Add("ConvTranspose", Device::kCpu, {DataType::kF32}, &ConvTransposeKernel<float>);
  table.Add("ConvTranspose", Device::kCpu, {DataType::kF64}, &ConvTransposeKernel<double>);
}

}  // namespace fleet::cpu
