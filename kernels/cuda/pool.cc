// MaxPool, fleet.max_pool_grad, GlobalAveragePool and fleet.global_avg_pool_grad on the GPU, in
// f32, for 1-D to 3-D inputs [N, C, spatial...]. Window geometry (pads, strides, dilations,
// auto_pad, ceil_mode) and its checks are kernels/cpu/window.h's, as in kernels/cpu/pool.cc and
// grad_pool.cc; the kernels (pool.cu) scan each window in the CPU's order, so ties pick the same
// maximum.
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "ir/status_macros.h"
#include "kernels/cpu/window.h"
#include "kernels/cuda/groups.h"
#include "kernels/cuda/kernel_util.h"
#include "kernels/cuda/launch.h"

namespace fleet::cuda {
namespace {

// The window of a max pool over X (input 0) from the op's attributes, and its output shape.
absl::Status ReadMaxPool(const KernelContext& ctx, PoolGeometry* geo,
                         std::vector<int64_t>* out_shape) {
  const Tensor& x = ctx.input(0);
  const int rank = x.rank() - 2;
  std::vector<int64_t> kernel;
  FLEET_RETURN_IF_ERROR(cpu::ReadKernelShape(ctx, rank, &kernel));
  if (kernel.empty()) return ctx.InvalidArgument("missing attribute 'kernel_shape'");
  const bool ceil_mode = ctx.GetInt("ceil_mode", 0) != 0;
  std::vector<int64_t> in(x.shape().begin() + 2, x.shape().end());
  cpu::WindowGeometry g;
  FLEET_RETURN_IF_ERROR(cpu::ComputeForwardWindow(ctx, "X", in, kernel, ceil_mode, true, &g));
  geo->n = x.dim(0);
  geo->c = x.dim(1);
  for (int j = 0; j < 3; ++j) {
    geo->in[j] = g.in[j];
    geo->out[j] = g.out[j];
    geo->kernel[j] = g.kernel[j];
    geo->stride[j] = g.stride[j];
    geo->pad_begin[j] = g.pad_begin[j];
    geo->dilation[j] = g.dilation[j];
  }
  *out_shape = {x.dim(0), x.dim(1)};
  for (int64_t d : g.OutDims()) out_shape->push_back(d);
  return absl::OkStatus();
}

absl::Status MaxPoolKernel(KernelContext& ctx) {
  if (!ctx.has_input(0)) return ctx.InvalidArgument("missing input 'X'");
  const Tensor& x = ctx.input(0);
  if (x.rank() < 3) {
    return ctx.InvalidArgument(absl::StrCat("input 'X' has shape ", ShapeString(x.shape()),
                                            "; expected [N,C,spatial...] with rank >= 3"));
  }
  PoolGeometry g;
  std::vector<int64_t> out_shape;
  FLEET_RETURN_IF_ERROR(ReadMaxPool(ctx, &g, &out_shape));
  const bool with_indices = ctx.num_outputs() > 1;
  if (with_indices && ctx.GetInt("storage_order", 0) != 0) {
    return ctx.Unimplemented(
        "output 'Indices' with storage_order 1 (column-major) has no CUDA kernel; have 0");
  }
  Tensor* y = ctx.Output(0, x.dtype(), out_shape);
  int64_t* indices =
      with_indices ? ctx.Output(1, DataType::kI64, out_shape)->data<int64_t>() : nullptr;
  return Launched(ctx, LaunchMaxPool(x.data<float>(), y->data<float>(), indices, g, Stream(ctx)),
                  "MaxPool kernel");
}

absl::Status MaxPoolGradKernel(KernelContext& ctx) {
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
  PoolGeometry g;
  std::vector<int64_t> out_shape;
  FLEET_RETURN_IF_ERROR(ReadMaxPool(ctx, &g, &out_shape));
  if (dy.shape() != out_shape) {
    return ctx.InvalidArgument(absl::StrCat("input 'YGrad' has shape ", ShapeString(dy.shape()),
                                            "; expected the pool's output shape ",
                                            ShapeString(out_shape)));
  }
  Tensor* dx = ctx.Output(0, x.dtype(), x.shape());
  return Launched(
      ctx, LaunchMaxPoolGrad(x.data<float>(), dy.data<float>(), dx->data<float>(), g, Stream(ctx)),
      "max_pool_grad kernel");
}

absl::Status GlobalAvgPoolKernel(KernelContext& ctx) {
  if (!ctx.has_input(0)) return ctx.InvalidArgument("missing input 'X'");
  const Tensor& x = ctx.input(0);
  if (x.rank() < 2) {
    return ctx.InvalidArgument(absl::StrCat("input 'X' has shape ", ShapeString(x.shape()),
                                            "; expected [N,C,spatial...] with rank >= 2"));
  }
  std::vector<int64_t> out_shape(x.rank(), 1);
  out_shape[0] = x.dim(0);
  out_shape[1] = x.dim(1);
  Tensor* y = ctx.Output(0, x.dtype(), out_shape);
  const int64_t planes = x.dim(0) * x.dim(1);
  const int64_t spatial = planes == 0 ? 0 : x.numel() / planes;
  return Launched(
      ctx, LaunchGlobalAvgPool(x.data<float>(), y->data<float>(), planes, spatial, Stream(ctx)),
      "GlobalAveragePool kernel");
}

absl::Status GlobalAvgPoolGradKernel(KernelContext& ctx) {
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
  const int64_t spatial = planes == 0 ? 0 : x.numel() / planes;
  return Launched(
      ctx,
      LaunchGlobalAvgPoolGrad(dy.data<float>(), dx->data<float>(), planes, spatial, Stream(ctx)),
      "global_avg_pool_grad kernel");
}

}  // namespace

void RegisterPoolKernels(KernelTable& table) {
  const Device cuda = Device::kCuda;
  table.Add("MaxPool", cuda, {DataType::kF32}, &MaxPoolKernel);
  table.Add("fleet.max_pool_grad", cuda, {DataType::kF32}, &MaxPoolGradKernel);
  table.Add("GlobalAveragePool", cuda, {DataType::kF32}, &GlobalAvgPoolKernel);
  table.Add("fleet.global_avg_pool_grad", cuda, {DataType::kF32}, &GlobalAvgPoolGradKernel);
}

}  // namespace fleet::cuda
