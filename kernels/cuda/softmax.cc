// Softmax and LogSoftmax (opset 13: one `axis`) and their gradients fleet.softmax_grad and
// fleet.log_softmax_grad on the GPU, in f32, with the axis checks of kernels/cpu/softmax.cc and
// grad_softmax.cc.
#include <string>

#include "absl/strings/str_cat.h"
#include "ir/status_macros.h"
#include "kernels/cpu/reduce_axes.h"
#include "kernels/cuda/groups.h"
#include "kernels/cuda/kernel_util.h"
#include "kernels/cuda/launch.h"

namespace fleet::cuda {
namespace {

template <bool kLog>
absl::Status SoftmaxKernel(KernelContext& ctx) {
  if (!ctx.has_input(0)) return ctx.InvalidArgument("missing input 'input'");
  const Tensor& x = ctx.input(0);
  FLEET_ASSIGN_OR_RETURN(const int axis, cpu::ResolveAxis(ctx, ctx.GetInt("axis", -1), x.rank()));
  Tensor* y = ctx.Output(0, x.dtype(), x.shape());
  const cpu::AxisSplit s = cpu::SplitAt(x.shape(), axis);
  return Launched(
      ctx,
      LaunchSoftmax(x.data<float>(), y->data<float>(), s.outer, s.axis, s.inner, kLog, Stream(ctx)),
      "softmax kernel");
}

template <bool kLog>
absl::Status SoftmaxGradKernel(KernelContext& ctx) {
  if (!ctx.has_input(0) || !ctx.has_input(1)) {
    return ctx.InvalidArgument("needs inputs Out and OutGrad");
  }
  const Tensor& y = ctx.input(0);
  const Tensor& dy = ctx.input(1);
  if (dy.shape() != y.shape() || dy.dtype() != y.dtype()) {
    return ctx.InvalidArgument(absl::StrCat("gradient ", dy.TypeString(), " does not match the ",
                                            "output ", y.TypeString()));
  }
  FLEET_ASSIGN_OR_RETURN(const int axis, cpu::ResolveAxis(ctx, ctx.GetInt("axis", -1), y.rank()));
  Tensor* dx = ctx.Output(0, y.dtype(), y.shape());
  const cpu::AxisSplit s = cpu::SplitAt(y.shape(), axis);
  return Launched(ctx,
                  LaunchSoftmaxGrad(y.data<float>(), dy.data<float>(), dx->data<float>(), s.outer,
                                    s.axis, s.inner, kLog, Stream(ctx)),
                  "softmax gradient kernel");
}

}  // namespace

void RegisterSoftmaxKernels(KernelTable& table) {
  const Device cuda = Device::kCuda;
  table.Add("Softmax", cuda, {DataType::kF32}, &SoftmaxKernel<false>);
  table.Add("LogSoftmax", cuda, {DataType::kF32}, &SoftmaxKernel<true>);
  table.Add("fleet.softmax_grad", cuda, {DataType::kF32}, &SoftmaxGradKernel<false>);
  table.Add("fleet.log_softmax_grad", cuda, {DataType::kF32}, &SoftmaxGradKernel<true>);
}

}  // namespace fleet::cuda
