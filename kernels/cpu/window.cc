// Window attribute parsing and output-size arithmetic for Conv, ConvTranspose
// and pools.
#include "kernels/cpu/window.h"

#include <algorithm>
#include <string>

#include "absl/strings/str_cat.h"

namespace fleet::cpu {

std::vector<int64_t> WindowGeometry::OutDims() const {
  return std::vector<int64_t>(out.begin() + (3 - rank), out.end());
}

absl::Status ReadKernelShape(const KernelContext& ctx, int rank, std::vector<int64_t>* kernel) {
  if (!ctx.HasAttr("kernel_shape")) return absl::OkStatus();
  std::vector<int64_t> k = ctx.GetInts("kernel_shape", {});
  if (static_cast<int>(k.size()) != rank) {
    return ctx.InvalidArgument(absl::StrCat("attribute 'kernel_shape' has ", k.size(), " entries ",
                                            ShapeString(k), "; expected ", rank,
                                            " (one per spatial dim)"));
  }
  for (int64_t v : k) {
    if (v < 1) {
      return ctx.InvalidArgument(absl::StrCat("attribute 'kernel_shape' is ", ShapeString(k),
                                              "; expected positive entries"));
    }
  }
  *kernel = k;
  return absl::OkStatus();
}

absl::Status ReadWindowAttrs(const KernelContext& ctx, int rank, bool allow_dilations,
                             WindowGeometry* geo) {
  if (rank < 1 || rank > 3) {
    return ctx.Unimplemented(
        absl::StrCat("only 1-D, 2-D and 3-D windows are supported; got ", rank, " spatial dims"));
  }
  geo->rank = rank;
  const int off = 3 - rank;
  auto read = [&](const char* name, int64_t count, int64_t min, int64_t dflt,
                  int64_t* dst) -> absl::Status {
    std::vector<int64_t> v = ctx.GetInts(name, std::vector<int64_t>(count, dflt));
    if (static_cast<int64_t>(v.size()) != count) {
      return ctx.InvalidArgument(absl::StrCat("attribute '", name, "' has ", v.size(),
                                              " entries; expected ", count, " for ", rank,
                                              " spatial dims"));
    }
    for (int64_t i = 0; i < count; ++i) {
      if (v[i] < min) {
        return ctx.InvalidArgument(absl::StrCat("attribute '", name, "' is ", ShapeString(v),
                                                "; expected entries >= ", min));
      }
      dst[i] = v[i];
    }
    return absl::OkStatus();
  };
  if (absl::Status s = read("strides", rank, 1, 1, geo->stride.data() + off); !s.ok()) return s;
  if (absl::Status s = read("dilations", rank, 1, 1, geo->dilation.data() + off); !s.ok()) {
    return s;
  }
  if (!allow_dilations) {
    for (int64_t d : geo->dilation) {
      if (d != 1) return ctx.Unimplemented("attribute 'dilations' is not supported by this op");
    }
  }
  int64_t pads[6] = {0, 0, 0, 0, 0, 0};
  if (absl::Status s = read("pads", 2 * rank, 0, 0, pads); !s.ok()) return s;
  for (int i = 0; i < rank; ++i) {
    geo->pad_begin[off + i] = pads[i];
    geo->pad_end[off + i] = pads[rank + i];
  }
  return absl::OkStatus();
}

absl::Status ComputeForwardWindow(const KernelContext& ctx, const char* input_name,
                                  const std::vector<int64_t>& in,
                                  const std::vector<int64_t>& kernel, bool ceil_mode,
                                  bool allow_dilations, WindowGeometry* geo) {
  const int rank = static_cast<int>(in.size());
  if (absl::Status s = ReadWindowAttrs(ctx, rank, allow_dilations, geo); !s.ok()) return s;
  const int off = 3 - rank;
  const std::string auto_pad = ctx.GetString("auto_pad", "NOTSET");
  if (auto_pad != "NOTSET" && auto_pad != "VALID" && auto_pad != "SAME_UPPER" &&
      auto_pad != "SAME_LOWER") {
    return ctx.InvalidArgument(absl::StrCat("attribute 'auto_pad' is '", auto_pad,
                                            "'; expected NOTSET, SAME_UPPER, SAME_LOWER or VALID"));
  }
  for (int i = 0; i < rank; ++i) {
    const int j = off + i;
    geo->in[j] = in[i];
    geo->kernel[j] = kernel[i];
    const int64_t s = geo->stride[j];
    const int64_t ext = (kernel[i] - 1) * geo->dilation[j] + 1;  // dilated kernel extent
    if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
      geo->out[j] = (in[i] + s - 1) / s;
      int64_t total = std::max<int64_t>(0, (geo->out[j] - 1) * s + ext - in[i]);
      int64_t small = total / 2;
      geo->pad_begin[j] = auto_pad == "SAME_UPPER" ? small : total - small;
      geo->pad_end[j] = total - geo->pad_begin[j];
      continue;
    }
    if (auto_pad == "VALID") geo->pad_begin[j] = geo->pad_end[j] = 0;
    const int64_t padded = in[i] + geo->pad_begin[j] + geo->pad_end[j];
    if (padded < ext) {
      return ctx.InvalidArgument(
          absl::StrCat("input '", input_name, "' spatial dim ", i, " is ", in[i], " (", padded,
                       " with pads); expected at least the dilated kernel extent ", ext));
    }
    int64_t out = ceil_mode ? (padded - ext + s - 1) / s + 1 : (padded - ext) / s + 1;
    // A window may not start in the end padding (it would see no input).
    if (ceil_mode && (out - 1) * s >= in[i] + geo->pad_begin[j]) --out;
    geo->out[j] = out;
  }
  return absl::OkStatus();
}

absl::Status CheckConvInputs(const KernelContext& ctx, const char* op) {
  if (!ctx.has_input(0) || !ctx.has_input(1)) {
    return ctx.InvalidArgument(absl::StrCat(op, " needs inputs 'X' and 'W'"));
  }
  const Tensor& x = ctx.input(0);
  const Tensor& w = ctx.input(1);
  if (x.rank() < 3) {
    return ctx.InvalidArgument(absl::StrCat("input 'X' has shape ", ShapeString(x.shape()),
                                            "; expected [N,C,spatial...] with rank >= 3"));
  }
  if (w.dtype() != x.dtype() || w.rank() != x.rank()) {
    return ctx.InvalidArgument(absl::StrCat("input 'W' is ", w.TypeString(), "; expected ",
                                            DataTypeName(x.dtype()), " of rank ", x.rank(),
                                            " like 'X' ", x.TypeString()));
  }
  return absl::OkStatus();
}

absl::Status CheckConvBias(const KernelContext& ctx, int64_t m, const char* why_m) {
  if (!ctx.has_input(2)) return absl::OkStatus();
  const Tensor& b = ctx.input(2);
  const DataType dtype = ctx.input(0).dtype();
  if (b.dtype() != dtype || b.rank() != 1 || b.dim(0) != m) {
    return ctx.InvalidArgument(absl::StrCat("input 'B' is ", b.TypeString(), "; expected ",
                                            DataTypeName(dtype), "[", m, "] (", why_m, ")"));
  }
  return absl::OkStatus();
}

}  // namespace fleet::cpu
