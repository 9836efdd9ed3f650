// Loss scaling on the GPU (ir/fleet_amp_ops.cc): fleet.check_finite_and_unscale unscales the
// gradients in place and says whether all were finite, fleet.update_loss_scaling moves the
// scale. Checks, messages, rule and traits are kernels/cpu/amp.cc's. The scale, the flag and the
// step count stay on the device: nothing here waits for the GPU.
//
// The CPU kernel rejects a scale that is not a finite value > 0; here the scale is on the
// device, so such a scale clears AllFinite instead (the step is skipped, as for an overflow).
#include "kernels/cpu/amp.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "ir/status_macros.h"
#include "kernels/cuda/groups.h"
#include "kernels/cuda/kernel_util.h"
#include "kernels/cuda/launch.h"

namespace fleet::cuda {
namespace {

// fleet.check_finite_and_unscale(X..., Scale) -> Out..., AllFinite. Each X (dense, or the values
// of sparse rows, whose rows are kept) is unscaled in its own buffer and handed back.
absl::Status CheckFiniteAndUnscaleKernel(KernelContext& ctx) {
  FLEET_RETURN_IF_ERROR(cpu::CheckUnscaleOperands(ctx));
  const int n = ctx.num_inputs() - 1;
  if (ctx.input(0).dtype() != DataType::kF32) {
    return ctx.Unimplemented(absl::StrCat("check_finite_and_unscale of ", ctx.input(0).TypeString(),
                                          " on the GPU; have f32"));
  }
  const cudaStream_t stream = Stream(ctx);
  Tensor* all_finite = ctx.Output(n, DataType::kBool, {});
  FLEET_RETURN_IF_ERROR(
      Launched(ctx, cudaMemsetAsync(all_finite->raw_data(), 1, 1, stream), "cudaMemsetAsync"));
  const float* scale = ctx.input(n).data<float>();
  UnscaleTensors tensors;
  for (int i = 0; i < n; ++i) {
    // Declared in place (CheckFiniteAndUnscaleTraits): the kernel writes the input's buffer.
    const int j = tensors.count++;
    tensors.x[j] = const_cast<float*>(ctx.input(i).data<float>());
    tensors.n[j] = ctx.input(i).numel();
    if (tensors.count == kUnscaleTensors || i == n - 1) {
      FLEET_RETURN_IF_ERROR(Launched(
          ctx, LaunchCheckFiniteAndUnscale(tensors, scale, all_finite->data<bool>(), stream),
          "check_finite_and_unscale kernel"));
      tensors = UnscaleTensors();
    }
  }
  for (int i = 0; i < n; ++i) ctx.SetOutput(i, ctx.input(i));
  return absl::OkStatus();
}

// fleet.update_loss_scaling(AllFinite, Scale, GoodSteps, SkippedSteps)
//     -> ScaleOut, GoodStepsOut, SkippedStepsOut, in place.
absl::Status UpdateLossScalingKernel(KernelContext& ctx) {
  FLEET_RETURN_IF_ERROR(cpu::CheckLossScalingOperands(ctx));
  FLEET_ASSIGN_OR_RETURN(const cpu::LossScalingRule rule, cpu::LossScalingRuleOf(ctx));
  LossScaling step;
  step.incr_every_n_steps = rule.incr_every_n_steps;
  step.incr_ratio = rule.incr_ratio;
  step.decr_ratio = rule.decr_ratio;
  FLEET_RETURN_IF_ERROR(
      Launched(ctx,
               LaunchUpdateLossScaling(
                   ctx.input(0).data<bool>(), const_cast<float*>(ctx.input(1).data<float>()),
                   const_cast<int64_t*>(ctx.input(2).data<int64_t>()),
                   const_cast<int64_t*>(ctx.input(3).data<int64_t>()), step, Stream(ctx)),
               "update_loss_scaling kernel"));
  ctx.SetOutput(0, ctx.input(1));
  ctx.SetOutput(1, ctx.input(2));
  ctx.SetOutput(2, ctx.input(3));
  return absl::OkStatus();
}

}  // namespace

void RegisterAmpKernels(KernelTable& table) {
  const Device cuda = Device::kCuda;
  table.Add("fleet.check_finite_and_unscale", cuda, {DataType::kF32}, &CheckFiniteAndUnscaleKernel);
  table.SetTraits("fleet.check_finite_and_unscale", cuda, cpu::CheckFiniteAndUnscaleTraits());
  table.Add("fleet.update_loss_scaling", cuda, {DataType::kF32}, &UpdateLossScalingKernel,
            /*key_input=*/1);
  table.SetTraits("fleet.update_loss_scaling", cuda, cpu::UpdateLossScalingTraits());
}

}  // namespace fleet::cuda
