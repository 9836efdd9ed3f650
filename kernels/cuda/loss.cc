// SoftmaxCrossEntropyLoss and fleet.softmax_ce_grad on the GPU, in f32, with the attributes,
// shape checks and messages of kernels/cpu/loss.cc and grad_loss.cc (shared through
// kernels/cpu/loss_internal.h).
//
// The CPU kernels reject a label outside [0, C) before computing; here the labels stay on the
// device, so such a label makes the loss (and its gradient) NaN instead of an error.
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "ir/status_macros.h"
#include "kernels/cpu/loss_internal.h"
#include "kernels/cuda/groups.h"
#include "kernels/cuda/kernel_util.h"
#include "kernels/cuda/launch.h"

namespace fleet::cuda {
namespace {

using cpu::LossReduction;

SoftmaxCe Args(const KernelContext& ctx, const cpu::LossDims& dims) {
  SoftmaxCe a;
  a.x = ctx.input(0).data<float>();
  a.labels = ctx.input(1).raw_data();
  a.labels_i64 = ctx.input(1).dtype() == DataType::kI64;
  a.weights = ctx.has_input(2) ? ctx.input(2).data<float>() : nullptr;
  a.n = dims.n;
  a.c = dims.c;
  a.d = dims.d;
  a.has_ignore = ctx.HasAttr("ignore_index");
  a.ignore_index = ctx.GetInt("ignore_index", 0);
  return a;
}

absl::Status LossKernel(KernelContext& ctx) {
  FLEET_ASSIGN_OR_RETURN(const LossReduction reduction, cpu::GetLossReduction(ctx));
  FLEET_ASSIGN_OR_RETURN(const cpu::LossDims dims, cpu::CheckLossShapes(ctx, cpu::kSceNames));
  const Tensor& x = ctx.input(0);
  const Tensor& labels = ctx.input(1);
  const SoftmaxCe args = Args(ctx, dims);
  const int64_t positions = labels.numel();
  Tensor weight = Scratch(ctx, DataType::kF32, {positions});
  Tensor loss = reduction == LossReduction::kNone ? *ctx.Output(0, x.dtype(), labels.shape())
                                                  : Scratch(ctx, DataType::kF32, {positions});
  float* log_prob =
      ctx.num_outputs() > 1 ? ctx.Output(1, x.dtype(), x.shape())->data<float>() : nullptr;
  FLEET_RETURN_IF_ERROR(Launched(
      ctx,
      LaunchSoftmaxCeLoss(args, loss.data<float>(), weight.data<float>(), log_prob, Stream(ctx)),
      "softmax cross-entropy kernel"));
  if (reduction == LossReduction::kNone) return absl::OkStatus();
  Tensor* out = ctx.Output(0, x.dtype(), {});
  return Launched(ctx,
                  LaunchSumRatio(loss.data<float>(),
                                 reduction == LossReduction::kMean ? weight.data<float>() : nullptr,
                                 positions, out->data<float>(), Stream(ctx)),
                  "loss reduction kernel");
}

// fleet.softmax_ce_grad(Scores, Labels, Weights?, OutGrad?, LogProbGrad?) -> ScoresGrad.
absl::Status LossGradKernel(KernelContext& ctx) {
  if (!ctx.has_input(0)) return ctx.InvalidArgument("input 0 (the scores) is missing");
  FLEET_ASSIGN_OR_RETURN(const cpu::LossDims dims, cpu::CheckLossShapes(ctx, cpu::kSceNames));
  FLEET_ASSIGN_OR_RETURN(const LossReduction reduction, cpu::GetLossReduction(ctx));
  const Tensor& x = ctx.input(0);
  const Tensor& labels = ctx.input(1);
  const bool per_position = reduction == LossReduction::kNone;
  const float* dout = nullptr;
  if (ctx.has_input(3)) {
    const Tensor& g = ctx.input(3);
    if (g.dtype() != x.dtype() || (per_position ? g.shape() != labels.shape() : g.numel() != 1)) {
      return ctx.InvalidArgument(absl::StrCat(
          "output gradient is ", g.TypeString(), "; expected ",
          std::string(DataTypeName(x.dtype())),
          per_position ? ShapeString(labels.shape()) + " like the labels" : " with one element"));
    }
    dout = g.data<float>();
  }
  const float* lpg = nullptr;
  if (ctx.has_input(4)) {
    const Tensor& l = ctx.input(4);
    if (l.shape() != x.shape() || l.dtype() != x.dtype()) {
      return ctx.InvalidArgument(absl::StrCat("log_prob gradient is ", l.TypeString(),
                                              "; expected the scores' ", x.TypeString()));
    }
    lpg = l.data<float>();
  }
  Tensor* dx = ctx.Output(0, x.dtype(), x.shape());
  if (x.numel() == 0) return absl::OkStatus();
  const SoftmaxCe args = Args(ctx, dims);
  Tensor weight_sum;
  if (reduction == LossReduction::kMean && dout != nullptr) {
    // W, the sum of the applied weights, from the forward kernel's per-position weights.
    const int64_t positions = labels.numel();
    Tensor loss = Scratch(ctx, DataType::kF32, {positions});
    Tensor weight = Scratch(ctx, DataType::kF32, {positions});
    weight_sum = Scratch(ctx, DataType::kF32, {1});
    FLEET_RETURN_IF_ERROR(Launched(
        ctx,
        LaunchSoftmaxCeLoss(args, loss.data<float>(), weight.data<float>(), nullptr, Stream(ctx)),
        "softmax cross-entropy kernel"));
    FLEET_RETURN_IF_ERROR(Launched(ctx,
                                   LaunchSumRatio(weight.data<float>(), nullptr, positions,
                                                  weight_sum.data<float>(), Stream(ctx)),
                                   "weight sum kernel"));
  }
  return Launched(ctx,
                  LaunchSoftmaxCeGrad(args, dout, per_position,
                                      weight_sum.defined() ? weight_sum.data<float>() : nullptr,
                                      lpg, dx->data<float>(), Stream(ctx)),
                  "softmax cross-entropy gradient kernel");
}

}  // namespace

void RegisterLossKernels(KernelTable& table) {
  table.Add("SoftmaxCrossEntropyLoss", Device::kCuda, {DataType::kF32}, &LossKernel);
  table.Add("fleet.softmax_ce_grad", Device::kCuda, {DataType::kF32}, &LossGradKernel);
}

}  // namespace fleet::cuda
