// Training bookkeeping kernels: fleet.fill_constant (the startup program's initialisers),
// fleet.increment (the step counter), fleet.lr_schedule (the learning rate of a step) and
// fleet.clip_by_global_norm (torch.nn.utils.clip_grad_norm_ over all gradients).
//
// fleet.lr_schedule, with t the step (0 on the first update), W = warmup_steps,
// D = decay_steps, s = t - W the steps since warm-up, base = base_lr:
//
//   t < W          lr = base * t / W                     (linear warm-up from 0)
//   constant       lr = base
//   cosine         lr = min_lr + (base - min_lr) * (1 + cos(pi * min(s, D) / D)) / 2
//   linear         lr = base + (min_lr - base) * min(s, D) / D
//   exponential    lr = max(min_lr, base * decay_rate^(s / D))       (D = 0 counts as 1)
//   step           lr = max(min_lr, base * decay_rate^floor(s / D))
//
// computed in double and written as f32[1]. Cosine is torch's CosineAnnealingLR (T_max = D,
// eta_min = min_lr) held at min_lr after D steps; step is StepLR (step_size = D, gamma =
// decay_rate); exponential with D = 1 is ExponentialLR.
//
// fleet.clip_by_global_norm: norm = sqrt(sum of g^2 over every element of every X) (in
// double; sparse rows are merged first, so the norm is the dense gradient's), then every Out =
// X * min(1, max_norm / (norm + 1e-6)). When nothing is clipped the outputs share the inputs'
// buffers; sparse rows come out merged (unique ids).
#include <algorithm>
#include <cmath>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "ir/status_macros.h"
#include "kernels/cpu/broadcast.h"
#include "kernels/cpu/fill.h"
#include "kernels/cpu/groups.h"
#include "kernels/cpu/sparse_rows.h"

namespace fleet::cpu {
namespace {

absl::Status FillConstantKernel(KernelContext& ctx) {
  const std::string name = ctx.GetString("dtype", "");
  std::optional<DataType> dtype = DataTypeFromName(name);
  if (!dtype) {
    return ctx.InvalidArgument(absl::StrCat("attribute 'dtype' is '", name,
                                            "'; expected a dtype name (f32, f64, i64, i32)"));
  }
  const std::vector<int64_t> shape = ctx.GetInts("shape", {});
  FLEET_RETURN_IF_ERROR(ctx.CheckOutputSize(shape, *dtype));
  const double value = ctx.GetFloat("value", 0.0f);
  Tensor out(*dtype, shape);
  if (!FillTensor(&out, value)) {
    return ctx.Unimplemented(absl::StrCat("fill_constant of ", name, "; have f32, f64, i64, i32"));
  }
  ctx.SetOutput(0, std::move(out));
  return absl::OkStatus();
}

// The step counter: one i64 element.
absl::StatusOr<int64_t> ReadStep(const KernelContext& ctx, const char* slot) {
  if (!ctx.has_input(0)) return ctx.InvalidArgument(absl::StrCat("input '", slot, "' is missing"));
  const Tensor& x = ctx.input(0);
  if (x.dtype() != DataType::kI64 || x.numel() != 1) {
    return ctx.InvalidArgument(absl::StrCat("input '", slot, "' is ", x.TypeString(),
                                            "; expected a one-element i64 step counter"));
  }
  return *x.data<int64_t>();
}

absl::Status IncrementKernel(KernelContext& ctx) {
  FLEET_ASSIGN_OR_RETURN(int64_t step, ReadStep(ctx, "X"));
  Tensor* out = ctx.Output(0, DataType::kI64, ctx.input(0).shape());
  *out->data<int64_t>() = step + ctx.GetInt("step", 1);
  return absl::OkStatus();
}

absl::StatusOr<double> ScheduledLr(const KernelContext& ctx, int64_t t) {
  const double base = ctx.GetFloat("base_lr", 0.0f);
  const int64_t warmup = ctx.GetInt("warmup_steps", 0);
  const int64_t d = ctx.GetInt("decay_steps", 0);
  const double rate = ctx.GetFloat("decay_rate", 0.0f);
  const double min_lr = ctx.GetFloat("min_lr", 0.0f);
  const std::string decay = ctx.GetString("decay", "constant");
  if (t < 0 || warmup < 0 || d < 0) {
    return ctx.InvalidArgument(absl::StrCat("step ", t, ", warmup_steps ", warmup,
                                            " and decay_steps ", d, " must be >= 0"));
  }
  if (t < warmup) return base * static_cast<double>(t) / static_cast<double>(warmup);
  const double s = static_cast<double>(t - warmup);
  const bool needs_steps = decay == "cosine" || decay == "linear" || decay == "step";
  if (needs_steps && d == 0) {
    return ctx.InvalidArgument(
        absl::StrCat("decay '", decay, "' needs decay_steps > 0 (the length of the decay)"));
  }
  const double steps = static_cast<double>(std::max<int64_t>(d, 1));
  constexpr double kPi = 3.14159265358979323846;
  if (decay == "constant") return base;
  if (decay == "cosine") {
    return min_lr + (base - min_lr) * (1 + std::cos(kPi * std::min(s, steps) / steps)) / 2;
  }
  if (decay == "linear") return base + (min_lr - base) * std::min(s, steps) / steps;
  if (decay == "exponential") return std::max(min_lr, base * std::pow(rate, s / steps));
  if (decay == "step") return std::max(min_lr, base * std::pow(rate, std::floor(s / steps)));
  return ctx.InvalidArgument(absl::StrCat(
      "unknown decay '", decay, "'; expected constant, cosine, linear, exponential or step"));
}

absl::Status LrScheduleKernel(KernelContext& ctx) {
  FLEET_ASSIGN_OR_RETURN(int64_t step, ReadStep(ctx, "Step"));
  FLEET_ASSIGN_OR_RETURN(double lr, ScheduledLr(ctx, step));
  Tensor* out = ctx.Output(0, DataType::kF32, {1});
  *out->data<float>() = static_cast<float>(lr);
  return absl::OkStatus();
}

// Sum of squares of n elements, in double, in fixed chunks so that the result does not depend
// on the thread count.
template <typename T>
double SumSquares(const KernelContext& ctx, const T* x, int64_t n) {
  const int64_t chunks = (n + kElementwiseGrain - 1) / kElementwiseGrain;
  std::vector<double> partial(chunks, 0.0);
  ctx.ParallelFor(chunks, 1, [&](int64_t begin, int64_t end) {
    for (int64_t c = begin; c < end; ++c) {
      const int64_t lo = c * kElementwiseGrain, hi = std::min(n, lo + kElementwiseGrain);
      double sum = 0;
      for (int64_t i = lo; i < hi; ++i) sum += static_cast<double>(x[i]) * x[i];
      partial[c] = sum;
    }
  });
  double total = 0;
  for (double p : partial) total += p;
  return total;
}

template <typename T>
void Scale(const KernelContext& ctx, const T* x, T* out, int64_t n, T scale) {
  ctx.ParallelFor(n, kElementwiseGrain, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) out[i] = x[i] * scale;
  });
}

template <typename T>
absl::Status ClipByGlobalNormTyped(KernelContext& ctx) {
  const int n = ctx.num_inputs();
  if (ctx.num_outputs() != n) {
    return ctx.InvalidArgument(
        absl::StrCat("has ", n, " inputs and ", ctx.num_outputs(), " outputs; expected as many"));
  }
  const double max_norm = ctx.GetFloat("max_norm", 0.0f);
  if (!(max_norm > 0)) {
    return ctx.InvalidArgument(absl::StrCat("max_norm is ", max_norm, "; expected a number > 0"));
  }
  std::vector<MergedRows<T>> merged(n);
  double sum = 0;
  for (int i = 0; i < n; ++i) {
    if (!ctx.has_input(i)) return ctx.InvalidArgument(absl::StrCat("input ", i, " is missing"));
    const Tensor& x = ctx.input(i);
    if (x.dtype() != ctx.input(0).dtype()) {
      return ctx.InvalidArgument(
          absl::StrCat("input ", i, " is ", x.TypeString(), "; expected the dtype of input 0"));
    }
    if (!x.is_sparse_rows()) {
      sum += SumSquares<T>(ctx, x.data<T>(), x.numel());
      continue;
    }
    if (x.rank() == 0) return ctx.InvalidArgument(absl::StrCat("input ", i, " has rank 0"));
    int64_t width = 1;
    for (int d = 1; d < x.rank(); ++d) width *= x.dim(d);
    const std::string what = absl::StrCat("input ", i);
    FLEET_RETURN_IF_ERROR(MergeRows<T>(ctx, x, x.sparse_height(), width, what.c_str(), &merged[i]));
    sum +=
        SumSquares<T>(ctx, merged[i].values.data(), static_cast<int64_t>(merged[i].values.size()));
  }
  const double scale = std::min(1.0, max_norm / (std::sqrt(sum) + 1e-6));
  for (int i = 0; i < n; ++i) {
    const Tensor& x = ctx.input(i);
    if (!x.is_sparse_rows()) {
      if (scale >= 1.0) {
        ctx.SetOutput(i, x);
        continue;
      }
      Tensor* out = ctx.Output(i, x.dtype(), x.shape());
      Scale<T>(ctx, x.data<T>(), out->data<T>(), x.numel(), static_cast<T>(scale));
      continue;
    }
    const MergedRows<T>& m = merged[i];
    const int64_t rows = static_cast<int64_t>(m.ids.size());
    std::vector<int64_t> shape = x.shape();
    shape[0] = rows;
    Tensor values(x.dtype(), shape);
    Scale<T>(ctx, m.values.data(), values.data<T>(), rows * m.width, static_cast<T>(scale));
    Tensor ids(DataType::kI64, {rows});
    std::copy(m.ids.begin(), m.ids.end(), ids.data<int64_t>());
    ctx.SetOutput(i, Tensor::SparseRows(std::move(values), std::move(ids), x.sparse_height()));
  }
  return absl::OkStatus();
}

absl::Status ClipByGlobalNormKernel(KernelContext& ctx) {
  if (!ctx.has_input(0)) return ctx.InvalidArgument("has no inputs");
  switch (ctx.input(0).dtype()) {
    case DataType::kF32:
      return ClipByGlobalNormTyped<float>(ctx);
    case DataType::kF64:
      return ClipByGlobalNormTyped<double>(ctx);
    default:
      return ctx.Unimplemented(
          absl::StrCat("clip_by_global_norm of ", ctx.input(0).TypeString(), "; have f32, f64"));
  }
}

}  // namespace

void RegisterTrainingKernels(KernelTable& table) {
  table.AddAnyType("fleet.fill_constant", Device::kCpu, &FillConstantKernel, -1);
  table.Add("fleet.increment", Device::kCpu, {DataType::kI64}, &IncrementKernel);
  table.Add("fleet.lr_schedule", Device::kCpu, {DataType::kI64}, &LrScheduleKernel);
  table.Add("fleet.clip_by_global_norm", Device::kCpu, {DataType::kF32, DataType::kF64},
            &ClipByGlobalNormKernel);
}

}  // namespace fleet::cpu
