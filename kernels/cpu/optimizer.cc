// Dense optimizer updates: fleet.sgd, fleet.momentum, fleet.adam, fleet.adamw,
// fleet.adagrad.
//
// Every kernel updates in place: it writes into the buffers of its Param and
// state inputs and hands those same tensors back as ParamOut, Moment1Out, ...
// (the program names the same vars on both sides). Semantics are PyTorch's
// (torch.optim), with g the gradient, lr the one-element f32 LearningRate, all
// arithmetic in the parameter's dtype:
//
//   fleet.sgd       p -= lr * g
//   fleet.momentum  v = mu * v + g
//                   p -= lr * v                    (use_nesterov = 0)
//                   p -= lr * (g + mu * v)         (use_nesterov = 1, with the
//                   new v)
//   fleet.adam      m = beta1 * m + (1 - beta1) * g
//                   v = beta2 * v + (1 - beta2) * g * g
//                   p -= lr * (m / (1 - b1p)) / (sqrt(v / (1 - b2p)) + epsilon)
//                   b1p *= beta1;  b2p *= beta2
//   fleet.adamw     p -= lr * weight_decay * p     (decoupled, before the Adam
//   step), then Adam fleet.adagrad   s += g * g
//                   p -= lr * g / (sqrt(s) + epsilon)
//
// Beta1Pow/Beta2Pow (b1p, b2p) hold beta^t for the step being taken (t = 1 on
// the first step, so the startup program sets them to beta1 and beta2); the op
// advances them to beta^(t+1). This is torch.optim.Adam(amsgrad=False) exactly.
// Adagrad's initial accumulator value is whatever the startup program puts in
// Moment.
#include <cmath>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "ir/status_macros.h"
#include "kernels/cpu/broadcast.h"
#include "kernels/cpu/groups.h"

namespace fleet::cpu {
namespace {

// Checks the op's inputs: the named ones are present; those in `like_param`
// have Param's dtype and shape; LearningRate is a one-element f32 tensor; those
// in `scalars` are one-element tensors of Param's dtype. Names are the schema's
// slot names, in input order.
absl::Status CheckInputs(const KernelContext& ctx, const std::vector<const char*>& names,
                         const std::vector<int>& like_param, int lr_index,
                         const std::vector<int>& scalars, int num_outputs) {
  for (int i = 0; i < static_cast<int>(names.size()); ++i) {
    if (!ctx.has_input(i)) {
      return ctx.InvalidArgument(absl::StrCat("input '", names[i], "' is missing"));
    }
  }
  if (ctx.num_outputs() < num_outputs) {
    return ctx.InvalidArgument(
        absl::StrCat("has ", ctx.num_outputs(), " outputs; expected ", num_outputs));
  }
  const Tensor& param = ctx.input(0);
  for (int i : like_param) {
    const Tensor& t = ctx.input(i);
    if (t.dtype() != param.dtype() || t.shape() != param.shape()) {
      return ctx.InvalidArgument(absl::StrCat("input '", names[i], "' is ", t.TypeString(),
                                              "; expected ", param.TypeString(),
                                              " to match 'Param' (hint: optimizer state has the "
                                              "parameter's dtype and shape)"));
    }
  }
  const Tensor& lr = ctx.input(lr_index);
  if (lr.dtype() != DataType::kF32 || lr.numel() != 1) {
    return ctx.InvalidArgument(absl::StrCat("input '", names[lr_index], "' is ", lr.TypeString(),
                                            "; expected a one-element f32 tensor"));
  }
  for (int i : scalars) {
    const Tensor& t = ctx.input(i);
    if (t.dtype() != param.dtype() || t.numel() != 1) {
      return ctx.InvalidArgument(absl::StrCat("input '", names[i], "' is ", t.TypeString(),
                                              "; expected a one-element ",
                                              DataTypeName(param.dtype()), " tensor"));
    }
  }
  return absl::OkStatus();
}

// A tensor that shares the input's buffer, for writing the update in place.
Tensor InPlace(const KernelContext& ctx, int i) { return ctx.input(i); }

template <typename T>
absl::Status SgdKernel(KernelContext& ctx) {
  FLEET_RETURN_IF_ERROR(CheckInputs(ctx, {"Param", "Grad", "LearningRate"}, {1}, 2, {}, 1));
  Tensor param = InPlace(ctx, 0);
  T* p = param.data<T>();
  const T* g = ctx.input(1).data<T>();
  const T lr = static_cast<T>(*ctx.input(2).data<float>());
  ctx.ParallelFor(param.numel(), kElementwiseGrain, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) p[i] -= lr * g[i];
  });
  ctx.SetOutput(0, std::move(param));
  return absl::OkStatus();
}

template <typename T>
absl::Status MomentumKernel(KernelContext& ctx) {
  FLEET_RETURN_IF_ERROR(
      CheckInputs(ctx, {"Param", "Grad", "Velocity", "LearningRate"}, {1, 2}, 3, {}, 2));
  Tensor param = InPlace(ctx, 0);
  Tensor velocity = InPlace(ctx, 2);
  T* p = param.data<T>();
  T* v = velocity.data<T>();
  const T* g = ctx.input(1).data<T>();
  const T lr = static_cast<T>(*ctx.input(3).data<float>());
  const T mu = static_cast<T>(ctx.GetFloat("mu", 0.9f));
  const bool nesterov = ctx.GetInt("use_nesterov", 0) != 0;
  ctx.ParallelFor(param.numel(), kElementwiseGrain, [&](int64_t begin, int64_t end) {
    if (nesterov) {
      for (int64_t i = begin; i < end; ++i) {
        T vi = mu * v[i] + g[i];
        v[i] = vi;
        p[i] -= lr * (g[i] + mu * vi);
      }
    } else {
      for (int64_t i = begin; i < end; ++i) {
        T vi = mu * v[i] + g[i];
        v[i] = vi;
        p[i] -= lr * vi;
      }
    }
  });
  ctx.SetOutput(0, std::move(param));
  ctx.SetOutput(1, std::move(velocity));
  return absl::OkStatus();
}

template <typename T, bool kDecoupledWeightDecay>
absl::Status AdamKernel(KernelContext& ctx) {
  FLEET_RETURN_IF_ERROR(CheckInputs(
      ctx, {"Param", "Grad", "LearningRate", "Moment1", "Moment2", "Beta1Pow", "Beta2Pow"},
      {1, 3, 4}, 2, {5, 6}, 5));
  Tensor param = InPlace(ctx, 0);
  Tensor moment1 = InPlace(ctx, 3);
  Tensor moment2 = InPlace(ctx, 4);
  Tensor beta1_pow = InPlace(ctx, 5);
  Tensor beta2_pow = InPlace(ctx, 6);
  T* p = param.data<T>();
  T* m = moment1.data<T>();
  T* v = moment2.data<T>();
  const T* g = ctx.input(1).data<T>();
  const T lr = static_cast<T>(*ctx.input(2).data<float>());
  const T beta1 = static_cast<T>(ctx.GetFloat("beta1", 0.9f));
  const T beta2 = static_cast<T>(ctx.GetFloat("beta2", 0.999f));
  const T epsilon = static_cast<T>(ctx.GetFloat("epsilon", 1e-8f));
  const T decay = kDecoupledWeightDecay
                      ? T(1) - lr * static_cast<T>(ctx.GetFloat("weight_decay", 0.01f))
                      : T(1);
  T& b1p = *beta1_pow.data<T>();
  T& b2p = *beta2_pow.data<T>();
  // p -= lr / bc1 * m / (sqrt(v) / sqrt(bc2) + eps), as torch.optim.Adam
  // computes it.
  const T step_size = lr / (T(1) - b1p);
  const T inv_sqrt_bc2 = T(1) / std::sqrt(T(1) - b2p);
  ctx.ParallelFor(param.numel(), kElementwiseGrain, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      T gi = g[i];
      T mi = beta1 * m[i] + (T(1) - beta1) * gi;
      T vi = beta2 * v[i] + (T(1) - beta2) * gi * gi;
      m[i] = mi;
      v[i] = vi;
      T pi = kDecoupledWeightDecay ? p[i] * decay : p[i];
      p[i] = pi - step_size * mi / (std::sqrt(vi) * inv_sqrt_bc2 + epsilon);
    }
  });
  b1p *= beta1;
  b2p *= beta2;
  ctx.SetOutput(0, std::move(param));
  ctx.SetOutput(1, std::move(moment1));
  ctx.SetOutput(2, std::move(moment2));
  ctx.SetOutput(3, std::move(beta1_pow));
  ctx.SetOutput(4, std::move(beta2_pow));
  return absl::OkStatus();
}

template <typename T>
absl::Status AdagradKernel(KernelContext& ctx) {
  FLEET_RETURN_IF_ERROR(
      CheckInputs(ctx, {"Param", "Grad", "Moment", "LearningRate"}, {1, 2}, 3, {}, 2));
  Tensor param = InPlace(ctx, 0);
  Tensor moment = InPlace(ctx, 2);
  T* p = param.data<T>();
  T* s = moment.data<T>();
  const T* g = ctx.input(1).data<T>();
  const T lr = static_cast<T>(*ctx.input(3).data<float>());
  const T epsilon = static_cast<T>(ctx.GetFloat("epsilon", 1e-6f));
  ctx.ParallelFor(param.numel(), kElementwiseGrain, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      T si = s[i] + g[i] * g[i];
      s[i] = si;
      p[i] -= lr * g[i] / (std::sqrt(si) + epsilon);
    }
  });
  ctx.SetOutput(0, std::move(param));
  ctx.SetOutput(1, std::move(moment));
  return absl::OkStatus();
}

}  // namespace

void RegisterOptimizerKernels(KernelTable& table) {
  auto add = [&](const char* op, KernelFn f32, KernelFn f64) {
    table.Add(op, Device::kCpu, {DataType::kF32}, f32);
    table.Add(op, Device::kCpu, {DataType::kF64}, f64);
  };
  add("fleet.sgd", &SgdKernel<float>, &SgdKernel<double>);
  add("fleet.momentum", &MomentumKernel<float>, &MomentumKernel<double>);
  add("fleet.adam", &AdamKernel<float, false>, &AdamKernel<double, false>);
  add("fleet.adamw", &AdamKernel<float, true>, &AdamKernel<double, true>);
  add("fleet.adagrad", &AdagradKernel<float>, &AdagradKernel<double>);
}

}  // namespace fleet::cpu
