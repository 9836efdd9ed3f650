// Optimizer updates: fleet.sgd, fleet.momentum, fleet.adam, fleet.adamw,
// fleet.adagrad, for dense and sparse-rows gradients.
//
// Every kernel updates in place: it writes into the buffers of its Param and
// state inputs and hands those same tensors back as ParamOut, Moment1Out, ...
// (the program names the same vars on both sides). Semantics are PyTorch's
// (torch.optim), with g the gradient, lr the one-element f32 LearningRate, wd
// the `weight_decay` attribute, all arithmetic in the parameter's dtype:
//
//   all but adamw   g += wd * p                    (L2 decay, first)
//   fleet.sgd       p -= lr * g
//   fleet.momentum  v = mu * v + g
//                   p -= lr * v                    (use_nesterov = 0)
//                   p -= lr * (g + mu * v)         (use_nesterov = 1, new v)
//   fleet.adam      m = beta1 * m + (1 - beta1) * g
//                   v = beta2 * v + (1 - beta2) * g * g
//                   p -= lr * (m / (1 - b1p)) / (sqrt(v / (1 - b2p)) + epsilon)
//                   b1p *= beta1;  b2p *= beta2
//   fleet.adamw     p *= 1 - lr * wd               (decoupled, before the Adam step)
//   fleet.adagrad   s += g * g
//                   p -= lr * g / (sqrt(s) + epsilon)
//
// Beta1Pow/Beta2Pow (b1p, b2p) hold beta^t for the step being taken (t = 1 on
// the first step, so the startup program sets them to beta1 and beta2); the op
// advances them to beta^(t+1). This is torch.optim.Adam(amsgrad=False) exactly.
// Adagrad's initial accumulator value is whatever the startup program puts in
// Moment.
//
// Sparse-rows gradients (an embedding table's): repeated row ids are added up
// first, then only the rows named are updated, with the formulas above applied
// to those rows alone ("lazy" updates). For sgd and adagrad without weight
// decay that equals the dense update with zero rows elsewhere. For momentum and
// Adam the state of rows a step does not touch stays as it is (their velocity
// and moments do not decay, their parameters do not move), as in
// torch.optim.SparseAdam; Adam's bias correction still follows the global step
// (b1p, b2p advance once per step). Weight decay, L2 or decoupled, applies to
// the touched rows only.
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "ir/status_macros.h"
#include "kernels/cpu/broadcast.h"
#include "kernels/cpu/groups.h"
#include "kernels/cpu/level_loops.h"
#include "kernels/cpu/multi_update.h"
#include "kernels/cpu/sparse_rows.h"
#include "kernels/cpu/vec_loops.h"

namespace fleet::cpu {
namespace {

// Checks the op's inputs: the named ones are present; those in `like_param`
// have Param's dtype and shape; Grad (input 1) is like Param or sparse rows of
// Param's dtype (their fit is checked when merged); LearningRate is a
// one-element f32 tensor; those in `scalars` are one-element tensors of Param's
// dtype. Names are the schema's slot names, in input order.
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
  const Tensor& grad = ctx.input(1);
  if (grad.is_sparse_rows()) {
    if (grad.dtype() != param.dtype() || param.rank() == 0) {
      return ctx.InvalidArgument(absl::StrCat("input 'Grad' is ", grad.TypeString(),
                                              "; expected sparse rows of a ", param.TypeString(),
                                              " table"));
    }
  } else if (grad.dtype() != param.dtype() || grad.shape() != param.shape()) {
    return ctx.InvalidArgument(absl::StrCat("input 'Grad' is ", grad.TypeString(), "; expected ",
                                            param.TypeString(), " to match 'Param'"));
  }
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

// Applies `update(i, g)` to every element i of the parameter (a lambda that captures by value,
// see at_level::UpdateRange): g from the dense
// gradient, or, for sparse rows, to the elements of each named row with the
// rows' merged gradient.
namespace at_level {
// update(i, g[i]) for i in [begin, end). Each update touches element i of its arrays only, so the
// iterations are independent (ivdep). The update captures its pointers and scalars by value and
// is copied here, so that GCC sees them as loop invariants and vectorises.
template <typename T, typename Update>
FLEET_LOOP_INLINE void UpdateRange(const Update* update, const T* g, int64_t begin, int64_t end) {
  const Update u = *update;
  int64_t i = begin;
  for (; i + kVec <= end; i += kVec) {  // fixed blocks: what GCC's -O2 vectoriser takes
#pragma GCC ivdep
    for (int j = 0; j < kVec; ++j) u(i + j, g[i + j]);
  }
  for (; i < end; ++i) u(i, g[i]);
}
}  // namespace at_level

template <typename T, typename Update>
absl::Status ApplyUpdate(const KernelContext& ctx, const Tensor& param, const Tensor& grad,
                         const Update& update) {
  if (!grad.is_sparse_rows()) {
    const T* g = grad.data<T>();
    ctx.ParallelFor(param.numel(), kElementwiseGrain, [&](int64_t begin, int64_t end) {
      RunLoopAtLevel<LoopOf<&at_level::UpdateRange<T, Update>>>(&update, g, begin, end);
    });
    return absl::OkStatus();
  }
  const int64_t height = param.dim(0);
  const int64_t width = height == 0 ? 0 : param.numel() / height;
  MergedRows<T> rows;
  FLEET_RETURN_IF_ERROR(MergeRows<T>(ctx, grad, height, width, "input 'Grad'", &rows));
  const int64_t n = static_cast<int64_t>(rows.ids.size());
  const int64_t grain = std::max<int64_t>(1, kElementwiseGrain / std::max<int64_t>(1, width));
  ctx.ParallelFor(n, grain, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const int64_t base = rows.ids[r] * width;
      const T* g = rows.values.data() + r * width;
      for (int64_t j = 0; j < width; ++j) update(base + j, g[j]);
    }
  });
  return absl::OkStatus();
}

template <typename T>
T LearningRate(const KernelContext& ctx, int index) {
  return static_cast<T>(*ctx.input(index).data<float>());
}

template <typename T>
absl::Status SgdKernel(KernelContext& ctx) {
  FLEET_RETURN_IF_ERROR(CheckInputs(ctx, {"Param", "Grad", "LearningRate"}, {}, 2, {}, 1));
  Tensor param = InPlace(ctx, 0);
  T* p = param.data<T>();
  const T lr = LearningRate<T>(ctx, 2);
  const T wd = static_cast<T>(ctx.GetFloat("weight_decay", 0.0f));
  FLEET_RETURN_IF_ERROR(ApplyUpdate<T>(ctx, param, ctx.input(1),
                                       [=](int64_t i, T g) { p[i] -= lr * (g + wd * p[i]); }));
  ctx.SetOutput(0, std::move(param));
  return absl::OkStatus();
}

template <typename T, bool kNesterov>
absl::Status MomentumUpdate(const KernelContext& ctx, T* p, T* v, T lr, T mu, T wd) {
  return ApplyUpdate<T>(ctx, ctx.input(0), ctx.input(1), [=](int64_t i, T g) {
    g += wd * p[i];
    const T vi = mu * v[i] + g;
    v[i] = vi;
    p[i] -= lr * (kNesterov ? g + mu * vi : vi);
  });
}

template <typename T>
absl::Status MomentumKernel(KernelContext& ctx) {
  FLEET_RETURN_IF_ERROR(
      CheckInputs(ctx, {"Param", "Grad", "Velocity", "LearningRate"}, {2}, 3, {}, 2));
  Tensor param = InPlace(ctx, 0);
  Tensor velocity = InPlace(ctx, 2);
  const T lr = LearningRate<T>(ctx, 3);
  const T mu = static_cast<T>(ctx.GetFloat("mu", 0.9f));
  const T wd = static_cast<T>(ctx.GetFloat("weight_decay", 0.0f));
  T* p = param.data<T>();
  T* v = velocity.data<T>();
  const bool nesterov = ctx.GetInt("use_nesterov", 0) != 0;
  absl::Status updated = nesterov ? MomentumUpdate<T, true>(ctx, p, v, lr, mu, wd)
                                  : MomentumUpdate<T, false>(ctx, p, v, lr, mu, wd);
  FLEET_RETURN_IF_ERROR(updated);
  ctx.SetOutput(0, std::move(param));
  ctx.SetOutput(1, std::move(velocity));
  return absl::OkStatus();
}

template <typename T, bool kDecoupledWeightDecay>
absl::Status AdamKernel(KernelContext& ctx) {
  FLEET_RETURN_IF_ERROR(CheckInputs(
      ctx, {"Param", "Grad", "LearningRate", "Moment1", "Moment2", "Beta1Pow", "Beta2Pow"}, {3, 4},
      2, {5, 6}, 5));
  Tensor param = InPlace(ctx, 0);
  Tensor moment1 = InPlace(ctx, 3);
  Tensor moment2 = InPlace(ctx, 4);
  Tensor beta1_pow = InPlace(ctx, 5);
  Tensor beta2_pow = InPlace(ctx, 6);
  T* p = param.data<T>();
  T* m = moment1.data<T>();
  T* v = moment2.data<T>();
  const T lr = LearningRate<T>(ctx, 2);
  const T beta1 = static_cast<T>(ctx.GetFloat("beta1", 0.9f));
  const T beta2 = static_cast<T>(ctx.GetFloat("beta2", 0.999f));
  const T epsilon = static_cast<T>(ctx.GetFloat("epsilon", 1e-8f));
  const T wd = static_cast<T>(ctx.GetFloat("weight_decay", kDecoupledWeightDecay ? 0.01f : 0.0f));
  const T decay = kDecoupledWeightDecay ? T(1) - lr * wd : T(1);
  const T l2 = kDecoupledWeightDecay ? T(0) : wd;
  T& b1p = *beta1_pow.data<T>();
  T& b2p = *beta2_pow.data<T>();
  // p -= lr / bc1 * m / (sqrt(v) / sqrt(bc2) + eps), as torch.optim.Adam
  // computes it.
  const T step_size = lr / (T(1) - b1p);
  const T inv_sqrt_bc2 = T(1) / std::sqrt(T(1) - b2p);
  FLEET_RETURN_IF_ERROR(ApplyUpdate<T>(ctx, param, ctx.input(1), [=](int64_t i, T g) {
    const T pi = kDecoupledWeightDecay ? p[i] * decay : p[i];
    g += l2 * pi;
    const T mi = beta1 * m[i] + (T(1) - beta1) * g;
    const T vi = beta2 * v[i] + (T(1) - beta2) * g * g;
    m[i] = mi;
    v[i] = vi;
    p[i] = pi - step_size * mi / (std::sqrt(vi) * inv_sqrt_bc2 + epsilon);
  }));
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
      CheckInputs(ctx, {"Param", "Grad", "Moment", "LearningRate"}, {2}, 3, {}, 2));
  Tensor param = InPlace(ctx, 0);
  Tensor moment = InPlace(ctx, 2);
  T* p = param.data<T>();
  T* s = moment.data<T>();
  const T lr = LearningRate<T>(ctx, 3);
  const T epsilon = static_cast<T>(ctx.GetFloat("epsilon", 1e-6f));
  const T wd = static_cast<T>(ctx.GetFloat("weight_decay", 0.0f));
  FLEET_RETURN_IF_ERROR(ApplyUpdate<T>(ctx, param, ctx.input(1), [=](int64_t i, T g) {
    g += wd * p[i];
    const T si = s[i] + g * g;
    s[i] = si;
    p[i] -= lr * g / (std::sqrt(si) + epsilon);
  }));
  ctx.SetOutput(0, std::move(param));
  ctx.SetOutput(1, std::move(moment));
  return absl::OkStatus();
}

}  // namespace

KernelFn SingleUpdateKernel(std::string_view type, DataType dtype) {
  const bool f64 = dtype == DataType::kF64;
  if (!f64 && dtype != DataType::kF32) return nullptr;
  if (type == "fleet.sgd") return f64 ? &SgdKernel<double> : &SgdKernel<float>;
  if (type == "fleet.momentum") return f64 ? &MomentumKernel<double> : &MomentumKernel<float>;
  if (type == "fleet.adam") return f64 ? &AdamKernel<double, false> : &AdamKernel<float, false>;
  if (type == "fleet.adamw") return f64 ? &AdamKernel<double, true> : &AdamKernel<float, true>;
  if (type == "fleet.adagrad") return f64 ? &AdagradKernel<double> : &AdagradKernel<float>;
  return nullptr;
}

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
  // The updates write the state they are given ({input, output} slots, see InPlace above).
  table.SetTraits("fleet.sgd", Device::kCpu, KernelTraits::InPlace({{0, 0}}));
  table.SetTraits("fleet.momentum", Device::kCpu, KernelTraits::InPlace({{0, 0}, {2, 1}}));
  for (const char* adam : {"fleet.adam", "fleet.adamw"}) {
    table.SetTraits(adam, Device::kCpu,
                    KernelTraits::InPlace({{0, 0}, {3, 1}, {4, 2}, {5, 3}, {6, 4}}));
  }
  table.SetTraits("fleet.adagrad", Device::kCpu, KernelTraits::InPlace({{0, 0}, {2, 1}}));
}

}  // namespace fleet::cpu
