// Concat and its gradient fleet.concat_grad on the GPU, any dtype, with the checks and messages
// of kernels/cpu/slice_pad.cc and grad_shape.cc. Around the axis every tensor is a matrix of
// `outer` rows, so each piece moves with one strided copy (cudaMemcpy2DAsync): no kernel of
// our own.
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "ir/status_macros.h"
#include "kernels/cpu/shape_util.h"
#include "kernels/cuda/groups.h"
#include "kernels/cuda/kernel_util.h"

namespace fleet::cuda {
namespace {

// Copies `height` rows of `width` bytes from src (rows `src_pitch` apart) to dst (rows
// `dst_pitch` apart) on the op's stream.
absl::Status CopyRows(const KernelContext& ctx, void* dst, int64_t dst_pitch, const void* src,
                      int64_t src_pitch, int64_t width, int64_t height) {
  if (width == 0 || height == 0) return absl::OkStatus();
  return Launched(ctx,
                  cudaMemcpy2DAsync(dst, dst_pitch, src, src_pitch, width, height,
                                    cudaMemcpyDeviceToDevice, Stream(ctx)),
                  "cudaMemcpy2DAsync");
}

absl::Status ConcatKernel(KernelContext& ctx) {
  if (ctx.num_inputs() == 0 || !ctx.has_input(0)) {
    return ctx.InvalidArgument("expected at least one input");
  }
  const Tensor& first = ctx.input(0);
  const int rank = first.rank();
  if (rank == 0) return ctx.InvalidArgument("inputs are scalars; expected rank >= 1");
  FLEET_ASSIGN_OR_RETURN(int axis, cpu::NormalizeAxis(ctx, ctx.GetInt("axis", 0), rank));
  std::vector<int64_t> out_shape = first.shape();
  out_shape[axis] = 0;
  for (int i = 0; i < ctx.num_inputs(); ++i) {
    if (!ctx.has_input(i)) return ctx.InvalidArgument(absl::StrCat("input ", i, " is absent"));
    const Tensor& t = ctx.input(i);
    bool ok = t.dtype() == first.dtype() && t.rank() == rank;
    for (int d = 0; ok && d < rank; ++d) ok = d == axis || t.dim(d) == first.dim(d);
    if (!ok) {
      return ctx.InvalidArgument(absl::StrCat("input ", i, " is ", t.TypeString(), "; expected ",
                                              std::string(DataTypeName(first.dtype())), " of rank ",
                                              rank, " matching input 0 ", first.TypeString(),
                                              " except on axis ", axis));
    }
    out_shape[axis] += t.dim(axis);
  }
  Tensor* out = ctx.Output(0, first.dtype(), out_shape);
  if (out->numel() == 0) return absl::OkStatus();
  const int64_t esize = static_cast<int64_t>(DataTypeSize(first.dtype()));
  int64_t outer = 1;
  for (int d = 0; d < axis; ++d) outer *= out_shape[d];
  const int64_t out_row = out->numel() / outer * esize;
  char* dst = static_cast<char*>(out->raw_data());
  for (int i = 0; i < ctx.num_inputs(); ++i) {
    const Tensor& t = ctx.input(i);
    const int64_t row = t.numel() / outer * esize;
    FLEET_RETURN_IF_ERROR(CopyRows(ctx, dst, out_row, t.raw_data(), row, row, outer));
    dst += row;
  }
  return absl::OkStatus();
}

// fleet.concat_grad(X, Inputs...) -> Out...: X cut along the axis into the pieces of the
// inputs named by `select` (default: all).
absl::Status ConcatGradKernel(KernelContext& ctx) {
  const int num_inputs = ctx.num_inputs() - 1;
  if (!ctx.has_input(0) || num_inputs < 1) {
    return ctx.InvalidArgument("needs the gradient X and at least one input");
  }
  const Tensor& x = ctx.input(0);
  if (x.rank() == 0) return ctx.InvalidArgument("gradient X is a scalar; expected rank >= 1");
  FLEET_ASSIGN_OR_RETURN(int axis, cpu::NormalizeAxis(ctx, ctx.GetInt("axis", 0), x.rank()));
  std::vector<int64_t> offset(num_inputs + 1, 0);
  int64_t outer = 1;
  for (int d = 0; d < axis; ++d) outer *= x.dim(d);
  const int64_t x_row = outer > 0 ? x.numel() / outer : 0;
  for (int i = 0; i < num_inputs; ++i) {
    if (!ctx.has_input(i + 1)) return ctx.InvalidArgument(absl::StrCat("input ", i, " is absent"));
    const Tensor& in = ctx.input(i + 1);
    bool ok = in.rank() == x.rank();
    for (int d = 0; ok && d < x.rank(); ++d) ok = d == axis || in.dim(d) == x.dim(d);
    if (!ok) {
      return ctx.InvalidArgument(absl::StrCat("input ", i, " is ", in.TypeString(),
                                              "; expected the gradient's shape ",
                                              ShapeString(x.shape()), " except on axis ", axis));
    }
    offset[i + 1] = offset[i] + (outer > 0 ? in.numel() / outer : 0);
  }
  if (offset[num_inputs] != x_row) {
    return ctx.InvalidArgument(absl::StrCat("the inputs' dims on axis ", axis, " do not add up to ",
                                            "the gradient's ", x.TypeString()));
  }
  std::vector<int64_t> select = ctx.GetInts("select", {});
  if (!ctx.HasAttr("select")) {
    for (int i = 0; i < num_inputs; ++i) select.push_back(i);
  }
  if (static_cast<int>(select.size()) != ctx.num_outputs()) {
    return ctx.InvalidArgument(absl::StrCat("select names ", select.size(), " inputs for ",
                                            ctx.num_outputs(), " outputs; expected one each"));
  }
  const int64_t esize = static_cast<int64_t>(DataTypeSize(x.dtype()));
  const char* src = static_cast<const char*>(x.raw_data());
  for (size_t k = 0; k < select.size(); ++k) {
    const int64_t i = select[k];
    if (i < 0 || i >= num_inputs || (k > 0 && i <= select[k - 1])) {
      return ctx.InvalidArgument(absl::StrCat("select has ", i, " at position ", k,
                                              "; expected increasing input indices below ",
                                              num_inputs));
    }
    Tensor* out = ctx.Output(static_cast<int>(k), x.dtype(), ctx.input(i + 1).shape());
    const int64_t width = (offset[i + 1] - offset[i]) * esize;
    if (x.numel() == 0) continue;
    FLEET_RETURN_IF_ERROR(CopyRows(ctx, out->raw_data(), width, src + offset[i] * esize,
                                   x_row * esize, width, outer));
  }
  return absl::OkStatus();
}

}  // namespace

void RegisterConcatKernels(KernelTable& table) {
  table.AddAnyType("Concat", Device::kCuda, &ConcatKernel, 0);
  table.AddAnyType("fleet.concat_grad", Device::kCuda, &ConcatGradKernel, 0);
}

}  // namespace fleet::cuda
