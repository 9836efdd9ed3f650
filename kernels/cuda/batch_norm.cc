// BatchNormalization (inference form), fleet.batch_norm_train and fleet.batch_norm_grad on the
// GPU (f32), with the checks and messages of kernels/cpu/norm.cc and grad_norm.cc. X is viewed
// as [N, C, S].
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "ir/status_macros.h"
#include "kernels/cuda/groups.h"
#include "kernels/cuda/kernel_util.h"
#include "kernels/cuda/launch.h"

namespace fleet::cuda {
namespace {

absl::Status CheckPerChannel(const KernelContext& ctx, int i, const char* name, int64_t c) {
  if (!ctx.has_input(i)) return ctx.InvalidArgument(absl::StrCat("input '", name, "' is missing"));
  const Tensor& t = ctx.input(i);
  if (t.dtype() != ctx.input(0).dtype() || t.rank() != 1 || t.dim(0) != c) {
    return ctx.InvalidArgument(absl::StrCat("input '", name, "' is ", t.TypeString(), "; expected ",
                                            std::string(DataTypeName(ctx.input(0).dtype())), "[", c,
                                            "] (one value per channel of X)"));
  }
  return absl::OkStatus();
}

// X as [N, C, S] for the training ops.
absl::Status ChannelDims(const KernelContext& ctx, int64_t* n, int64_t* c, int64_t* s) {
  if (!ctx.has_input(0) || ctx.input(0).rank() < 2) {
    return ctx.InvalidArgument("input 'X' needs rank >= 2 (N, C, ...)");
  }
  const Tensor& x = ctx.input(0);
  *n = x.dim(0);
  *c = x.dim(1);
  *s = *n * *c == 0 ? 0 : x.numel() / (*n * *c);
  return absl::OkStatus();
}

const float* In(const KernelContext& ctx, int i) { return ctx.input(i).data<float>(); }

absl::Status BatchNormKernel(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  if (x.rank() < 2) {
    return ctx.InvalidArgument(absl::StrCat("input 'X' is ", x.TypeString(),
                                            "; expected rank >= 2 (N, C, ...) for "
                                            "BatchNormalization"));
  }
  const int64_t n = x.dim(0), c = x.dim(1);
  const int64_t s = n * c == 0 ? 0 : x.numel() / (n * c);
  const char* names[] = {"X", "scale", "B", "input_mean", "input_var"};
  for (int i = 1; i < 5; ++i) FLEET_RETURN_IF_ERROR(CheckPerChannel(ctx, i, names[i], c));
  if (ctx.GetInt("training_mode", 0) != 0) {
    return ctx.Unimplemented(
        "training_mode 1 has no CUDA kernel (hint: training programs normalise with "
        "fleet.batch_norm_train)");
  }
  Tensor* y = ctx.Output(0, x.dtype(), x.shape());
  FLEET_RETURN_IF_ERROR(Launched(
      ctx,
      LaunchBatchNormInfer(x.data<float>(), In(ctx, 1), In(ctx, 2), In(ctx, 3), In(ctx, 4),
                           ctx.GetFloat("epsilon", 1e-5f), y->data<float>(), n, c, s, Stream(ctx)),
      "BatchNormalization kernel"));
  // Outside training the running statistics come out as they went in (copies, as on the CPU).
  for (int out = 1; out <= 2 && out < ctx.num_outputs(); ++out) {
    Tensor* r = ctx.Output(out, x.dtype(), {c});
    FLEET_RETURN_IF_ERROR(
        Launched(ctx,
                 cudaMemcpyAsync(r->raw_data(), ctx.input(out + 2).raw_data(), r->nbytes(),
                                 cudaMemcpyDeviceToDevice, Stream(ctx)),
                 "cudaMemcpyAsync"));
  }
  return absl::OkStatus();
}

absl::Status BatchNormTrainKernel(KernelContext& ctx) {
  int64_t n, c, s;
  FLEET_RETURN_IF_ERROR(ChannelDims(ctx, &n, &c, &s));
  const char* names[] = {"X", "Scale", "B", "RunningMean", "RunningVar"};
  for (int i = 1; i < 5; ++i) FLEET_RETURN_IF_ERROR(CheckPerChannel(ctx, i, names[i], c));
  const Tensor& x = ctx.input(0);
  if (n * s == 0) return ctx.InvalidArgument("input 'X' has no elements per channel");
  BatchNormTrain args;
  args.x = x.data<float>();
  args.scale = In(ctx, 1);
  args.bias = In(ctx, 2);
  args.running_mean = In(ctx, 3);
  args.running_var = In(ctx, 4);
  args.y = ctx.Output(0, x.dtype(), x.shape())->data<float>();
  float** outs[] = {&args.running_mean_out, &args.running_var_out, &args.saved_mean,
                    &args.saved_inv_std};
  for (int out = 1; out < ctx.num_outputs() && out <= 4; ++out) {
    *outs[out - 1] = ctx.Output(out, x.dtype(), {c})->data<float>();
  }
  args.n = n;
  args.c = c;
  args.s = s;
  args.epsilon = ctx.GetFloat("epsilon", 1e-5f);
  args.momentum = ctx.GetFloat("momentum", 0.9f);
  return Launched(ctx, LaunchBatchNormTrain(args, Stream(ctx)), "batch_norm_train kernel");
}

absl::Status BatchNormGradKernel(KernelContext& ctx) {
  int64_t n, c, s;
  FLEET_RETURN_IF_ERROR(ChannelDims(ctx, &n, &c, &s));
  const char* names[] = {"X", "Scale", "SavedMean", "SavedInvStd"};
  for (int i = 1; i < 4; ++i) FLEET_RETURN_IF_ERROR(CheckPerChannel(ctx, i, names[i], c));
  const Tensor& x = ctx.input(0);
  if (!ctx.has_input(4) || ctx.input(4).shape() != x.shape() || ctx.input(4).dtype() != x.dtype()) {
    return ctx.InvalidArgument(absl::StrCat("input 'YGrad' is ",
                                            ctx.has_input(4) ? ctx.input(4).TypeString() : "absent",
                                            "; expected ", x.TypeString(), " like X"));
  }
  float* dx = ctx.num_outputs() > 0 ? ctx.Output(0, x.dtype(), x.shape())->data<float>() : nullptr;
  float* dscale = ctx.num_outputs() > 1 ? ctx.Output(1, x.dtype(), {c})->data<float>() : nullptr;
  float* dbias = ctx.num_outputs() > 2 ? ctx.Output(2, x.dtype(), {c})->data<float>() : nullptr;
  return Launched(ctx,
                  LaunchBatchNormGrad(x.data<float>(), In(ctx, 1), In(ctx, 2), In(ctx, 3),
                                      In(ctx, 4), dx, dscale, dbias, n, c, s, Stream(ctx)),
                  "batch_norm_grad kernel");
}

}  // namespace

void RegisterBatchNormKernels(KernelTable& table) {
  table.Add("BatchNormalization", Device::kCuda, {DataType::kF32}, &BatchNormKernel);
  table.Add("fleet.batch_norm_train", Device::kCuda, {DataType::kF32}, &BatchNormTrainKernel);
  table.Add("fleet.batch_norm_grad", Device::kCuda, {DataType::kF32}, &BatchNormGradKernel);
}

}  // namespace fleet::cuda
