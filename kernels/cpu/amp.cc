// Loss scaling on the CPU (ir/fleet_amp_ops.cc): unscale the gradients and tell whether they
// are finite; move the scale after each step, as torch.cuda.amp.GradScaler does.
#include "kernels/cpu/amp.h"

#include <atomic>
#include <cmath>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "ir/status_macros.h"

namespace fleet::cpu {
namespace {

constexpr int64_t kUnscaleGrain = 1 << 14;

// Scales x[0..n) by inv in place; clears *finite when an element is inf or NaN.
template <typename T>
void UnscaleInPlace(const KernelContext& ctx, T* x, int64_t n, T inv, std::atomic<bool>* finite) {
  ctx.ParallelFor(n, kUnscaleGrain, [&](int64_t b, int64_t e) {
    bool ok = true;
    for (int64_t i = b; i < e; ++i) {
      ok = ok && std::isfinite(x[i]);
      x[i] *= inv;
    }
    if (!ok) finite->store(false, std::memory_order_relaxed);
  });
}

absl::Status CheckScalar(const KernelContext& ctx, int i, const char* name, DataType dtype) {
  if (!ctx.has_input(i)) return ctx.InvalidArgument(absl::StrCat("input '", name, "' is missing"));
  const Tensor& t = ctx.input(i);
  if (t.dtype() != dtype || t.numel() != 1) {
    return ctx.InvalidArgument(absl::StrCat("input '", name, "' is ", t.TypeString(),
                                            "; expected one ", DataTypeName(dtype)));
  }
  return absl::OkStatus();
}

template <typename T>
absl::Status CheckFiniteAndUnscaleTyped(KernelContext& ctx) {
  const int n = ctx.num_inputs() - 1;
  const float scale = *ctx.input(n).data<float>();
  if (!(scale > 0) || !std::isfinite(scale)) {
    return ctx.InvalidArgument(absl::StrCat("loss scale ", scale, "; expected a finite value > 0"));
  }
  const T inv = static_cast<T>(1.0 / static_cast<double>(scale));
  std::atomic<bool> finite{true};
  for (int i = 0; i < n; ++i) {
    Tensor x = ctx.input(i);  // shares the buffer: the unscale is in place
    UnscaleInPlace<T>(ctx, x.data<T>(), x.numel(), inv, &finite);  // sparse rows: their values
    ctx.SetOutput(i, std::move(x));
  }
  *ctx.Output(n, DataType::kBool, {})->data<bool>() = finite.load();
  return absl::OkStatus();
}

absl::Status CheckFiniteAndUnscaleKernel(KernelContext& ctx) {
  FLEET_RETURN_IF_ERROR(CheckUnscaleOperands(ctx));
  switch (ctx.input(0).dtype()) {
    case DataType::kF32:
      return CheckFiniteAndUnscaleTyped<float>(ctx);
    case DataType::kF64:
      return CheckFiniteAndUnscaleTyped<double>(ctx);
    default:
      return ctx.Unimplemented(absl::StrCat("check_finite_and_unscale of ",
                                            ctx.input(0).TypeString(), "; have f32, f64"));
  }
}

absl::Status UpdateLossScalingKernel(KernelContext& ctx) {
  FLEET_RETURN_IF_ERROR(CheckLossScalingOperands(ctx));
  FLEET_ASSIGN_OR_RETURN(const LossScalingRule rule, LossScalingRuleOf(ctx));
  Tensor scale = ctx.input(1);
  Tensor good = ctx.input(2);
  Tensor skipped = ctx.input(3);
  rule.Step(*ctx.input(0).data<bool>(), scale.data<float>(), good.data<int64_t>(),
            skipped.data<int64_t>());
  ctx.SetOutput(0, std::move(scale));
  ctx.SetOutput(1, std::move(good));
  ctx.SetOutput(2, std::move(skipped));
  return absl::OkStatus();
}

// The most gradients one check_finite_and_unscale may unscale in place.
constexpr int kMaxUnscaleInPlace = 1 << 14;

}  // namespace

absl::Status CheckUnscaleOperands(const KernelContext& ctx) {
  const int n = ctx.num_inputs() - 1;
  if (n < 1 || ctx.num_outputs() != n + 1) {
    return ctx.InvalidArgument(absl::StrCat(ctx.num_inputs(), " inputs and ", ctx.num_outputs(),
                                            " outputs; expected inputs X..., Scale and outputs "
                                            "Out... (one per X), AllFinite"));
  }
  FLEET_RETURN_IF_ERROR(CheckScalar(ctx, n, "Scale", DataType::kF32));
  for (int i = 0; i < n; ++i) {
    if (!ctx.has_input(i)) return ctx.InvalidArgument(absl::StrCat("input 'X' ", i, " is missing"));
    if (ctx.input(i).dtype() != ctx.input(0).dtype()) {
      return ctx.InvalidArgument(absl::StrCat("input 'X' ", i, " is ", ctx.input(i).TypeString(),
                                              "; expected the dtype of input 'X' 0, ",
                                              ctx.input(0).TypeString()));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckLossScalingOperands(const KernelContext& ctx) {
  if (ctx.num_inputs() != 4 || ctx.num_outputs() != 3) {
    return ctx.InvalidArgument(absl::StrCat(
        ctx.num_inputs(), " inputs and ", ctx.num_outputs(),
        " outputs; expected inputs AllFinite, Scale, GoodSteps, SkippedSteps and outputs "
        "ScaleOut, GoodStepsOut, SkippedStepsOut"));
  }
  FLEET_RETURN_IF_ERROR(CheckScalar(ctx, 0, "AllFinite", DataType::kBool));
  FLEET_RETURN_IF_ERROR(CheckScalar(ctx, 1, "Scale", DataType::kF32));
  FLEET_RETURN_IF_ERROR(CheckScalar(ctx, 2, "GoodSteps", DataType::kI64));
  return CheckScalar(ctx, 3, "SkippedSteps", DataType::kI64);
}

absl::StatusOr<LossScalingRule> LossScalingRuleOf(const KernelContext& ctx) {
  LossScalingRule rule;
  rule.incr_every_n_steps = ctx.GetInt("incr_every_n_steps", rule.incr_every_n_steps);
  rule.incr_ratio = ctx.GetFloat("incr_ratio", rule.incr_ratio);
  rule.decr_ratio = ctx.GetFloat("decr_ratio", rule.decr_ratio);
  if (rule.incr_every_n_steps < 1) {
    return ctx.InvalidArgument(absl::StrCat(
        "attribute incr_every_n_steps=", rule.incr_every_n_steps, "; expected at least 1"));
  }
  if (!(rule.incr_ratio >= 1) || !std::isfinite(rule.incr_ratio)) {
    return ctx.InvalidArgument(
        absl::StrCat("attribute incr_ratio=", rule.incr_ratio, "; expected a finite value >= 1"));
  }
  if (!(rule.decr_ratio > 0 && rule.decr_ratio <= 1)) {
    return ctx.InvalidArgument(
        absl::StrCat("attribute decr_ratio=", rule.decr_ratio, "; expected a value in (0, 1]"));
  }
  return rule;
}

KernelTraits CheckFiniteAndUnscaleTraits() {
  std::vector<std::pair<int, int>> in_place;
  for (int j = 0; j < kMaxUnscaleInPlace; ++j) in_place.emplace_back(j, j);
  return KernelTraits::InPlace(std::move(in_place));
}

KernelTraits UpdateLossScalingTraits() { return KernelTraits::InPlace({{1, 0}, {2, 1}, {3, 2}}); }

void RegisterAmpKernels(KernelTable& table) {
  table.Add("fleet.check_finite_and_unscale", Device::kCpu, {DataType::kF32, DataType::kF64},
            &CheckFiniteAndUnscaleKernel);
  table.SetTraits("fleet.check_finite_and_unscale", Device::kCpu, CheckFiniteAndUnscaleTraits());
  table.Add("fleet.update_loss_scaling", Device::kCpu, {DataType::kF32}, &UpdateLossScalingKernel,
            /*key_input=*/1);
  table.SetTraits("fleet.update_loss_scaling", Device::kCpu, UpdateLossScalingTraits());
}

}  // namespace fleet::cpu
