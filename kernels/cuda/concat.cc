// Concat and its gradient fleet.concat_grad on the GPU, any dtype, with the CPU kernels' checks
// (kernels/cpu/concat_plan.h). Around the axis every tensor is a matrix of
// `outer` rows, so each piece moves with one strided copy (cudaMemcpy2DAsync): no kernel of
// our own.
#include <vector>

#include "absl/strings/str_cat.h"
#include "ir/status_macros.h"
#include "kernels/cpu/concat_plan.h"
#include "kernels/cuda/groups.h"
#include "kernels/cuda/kernel_util.h"

namespace fleet::cuda {
namespace {

// Copies `height` rows of `width` bytes from src (rows `src_pitch` apart) to dst (rows
// `dst_pitch` apart) on the op's stream.
absl::Status CopyRows(const KernelContext& ctx, void* dst, int64_t dst_pitch, const void* src,
                      int64_t src_pitch, int64_t width, int64_t height) {
  if (width == 0 || height == 0) return absl::OkStatus();
  if (height == 1 || (dst_pitch == width && src_pitch == width)) {
    // One contiguous block: no pitch limit (cudaMemcpy2D's is the device's maximum pitch).
    return Launched(ctx,
                    cudaMemcpyAsync(dst, src, width * height, cudaMemcpyDeviceToDevice,
                                    Stream(ctx)),
                    "cudaMemcpyAsync");
  }
  return Launched(ctx,
                  cudaMemcpy2DAsync(dst, dst_pitch, src, src_pitch, width, height,
                                    cudaMemcpyDeviceToDevice, Stream(ctx)),
                  "cudaMemcpy2DAsync");
}

absl::Status ConcatKernel(KernelContext& ctx) {
  FLEET_ASSIGN_OR_RETURN(const cpu::ConcatPlan plan, cpu::PlanConcat(ctx));
  Tensor* out = ctx.Output(0, ctx.input(0).dtype(), plan.out_shape);
  if (out->numel() == 0) return absl::OkStatus();
  const int64_t esize = static_cast<int64_t>(DataTypeSize(out->dtype()));
  const int64_t out_row = out->numel() / plan.outer * esize;
  char* dst = static_cast<char*>(out->raw_data());
  for (int i = 0; i < ctx.num_inputs(); ++i) {
    const Tensor& t = ctx.input(i);
    const int64_t row = t.numel() / plan.outer * esize;
    FLEET_RETURN_IF_ERROR(CopyRows(ctx, dst, out_row, t.raw_data(), row, row, plan.outer));
    dst += row;
  }
  return absl::OkStatus();
}

// fleet.concat_grad(X, Inputs...) -> Out...: X cut along the axis into the pieces of the
// inputs named by `select` (default: all).
absl::Status ConcatGradKernel(KernelContext& ctx) {
  FLEET_ASSIGN_OR_RETURN(const cpu::ConcatGradPlan plan, cpu::PlanConcatGrad(ctx));
  const Tensor& x = ctx.input(0);
  const int64_t esize = static_cast<int64_t>(DataTypeSize(x.dtype()));
  const char* src = static_cast<const char*>(x.raw_data());
  for (size_t k = 0; k < plan.select.size(); ++k) {
    const int64_t i = plan.select[k];
    Tensor* out = ctx.Output(static_cast<int>(k), x.dtype(), ctx.input(i + 1).shape());
    const int64_t width = (plan.offset[i + 1] - plan.offset[i]) * esize;
    if (x.numel() == 0) continue;
    FLEET_RETURN_IF_ERROR(CopyRows(ctx, out->raw_data(), width, src + plan.offset[i] * esize,
                                   plan.x_row * esize, width, plan.outer));
  }
  return absl::OkStatus();
}

}  // namespace

void RegisterConcatKernels(KernelTable& table) {
  table.AddAnyType("Concat", Device::kCuda, &ConcatKernel, 0);
  table.AddAnyType("fleet.concat_grad", Device::kCuda, &ConcatGradKernel, 0);
}

}  // namespace fleet::cuda
