// Gradient kernels of SoftmaxCrossEntropyLoss and NegativeLogLikelihoodLoss for their scores
// (schemas in ir/fleet_grad_ops_loss.cc), with the forward op's reduction and ignore_index.
//
// Inputs are viewed as [N, C, D] and labels as [N, D], as in loss.cc. Each position (n, d) with
// class t (not ignored) gets the coefficient
//   g(n, d) = w[t] * dOut(n, d)     reduction 'none' (dOut shaped like the labels)
//             w[t] * dOut           'sum'
//             w[t] * dOut / W       'mean', W the sum of the applied weights (as the forward
//                                   op; W == 0, every position ignored, gives zeros)
// and ignored positions 0. Then
//   fleet.nll_loss_grad:   dX[n, c, d] = -g(n, d) at c == t, 0 elsewhere
//   fleet.softmax_ce_grad: dX[n, c, d] = g(n, d) * (p[n, c, d] - [c == t])
//                                        + L[n, c, d] - p[n, c, d] * sum_c' L[n, c', d]
// with p the softmax over the classes (recomputed from the scores, max-shifted) and L the
// gradient of the optional log_prob output (0 when absent). The softmax loop reads each row
// twice (max and sum of exponentials, then the gradient) and vectorises like the forward loop.
#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "ir/status_macros.h"
#include "kernels/cpu/groups.h"
#include "kernels/cpu/loss_internal.h"
#include "kernels/cpu/reduce_axes.h"

namespace fleet::cpu {
namespace {

constexpr int64_t kColumns = 256;  // positions per block when D > 1

// The classes of every position (-1: ignored), checked against [0, C).
absl::Status ReadClasses(const KernelContext& ctx, const LossNames& names, int64_t c,
                         std::vector<int64_t>* classes) {
  if (ctx.input(1).dtype() == DataType::kI32) {
    return ResolveLabels<int32_t>(ctx, names, c, classes);
  }
  return ResolveLabels<int64_t>(ctx, names, c, classes);
}

// g(n, d) of the header comment for every position; OutGrad is input 3 (absent: all 0).
template <typename T>
absl::StatusOr<std::vector<T>> Coefficients(const KernelContext& ctx,
                                            const std::vector<int64_t>& classes, const T* weights) {
  FLEET_ASSIGN_OR_RETURN(const LossReduction reduction, GetLossReduction(ctx));
  std::vector<T> coeff(classes.size(), T(0));
  if (!ctx.has_input(3)) return coeff;
  const Tensor& dout = ctx.input(3);
  const Tensor& labels = ctx.input(1);
  const bool per_position = reduction == LossReduction::kNone;
  if (dout.dtype() != ctx.input(0).dtype() ||
      (per_position ? dout.shape() != labels.shape() : dout.numel() != 1)) {
    return ctx.InvalidArgument(absl::StrCat(
        "output gradient is ", dout.TypeString(), "; expected ",
        std::string(DataTypeName(ctx.input(0).dtype())),
        per_position ? ShapeString(labels.shape()) + " like the labels" : " with one element"));
  }
  const T* g = dout.data<T>();
  T scale = per_position ? T(1) : g[0];
  if (reduction == LossReduction::kMean) {
    double weight_sum = 0;
    for (const int64_t t : classes) {
      if (t >= 0) weight_sum += static_cast<double>(WeightOf(weights, t));
    }
    scale = weight_sum == 0 ? T(0) : static_cast<T>(scale / weight_sum);
  }
  for (size_t i = 0; i < classes.size(); ++i) {
    const int64_t t = classes[i];
    if (t >= 0) coeff[i] = WeightOf(weights, t) * (per_position ? g[i] : scale);
  }
  return coeff;
}

// Rows [begin, end) of x viewed as [rows, c] (D == 1). lpg: the log_prob gradient or null.
template <typename T>
void SoftmaxCeGradRows(const T* x, const int64_t* classes, const T* coeff, const T* lpg, int64_t c,
                       int64_t begin, int64_t end, T* dx) {
  for (int64_t r = begin; r < end; ++r) {
    const T* __restrict row = x + r * c;
    T* __restrict out = dx + r * c;
    const T* __restrict l = lpg != nullptr ? lpg + r * c : nullptr;
    if (coeff[r] == T(0) && l == nullptr) {
      std::fill(out, out + c, T(0));
      continue;
    }
    const T q = l != nullptr ? RowSum(l, c) : T(0);
    if (c < kVec) {
      // Rows shorter than a vector (binary classifiers): one exponential per class, kept in
      // the output until the sum is known.
      T m = row[0];
      for (int64_t k = 1; k < c; ++k) m = MaxOf(m, row[k]);
      T s = 0;
      for (int64_t k = 0; k < c; ++k) {
        out[k] = ExpOf(row[k] - m);
        s += out[k];
      }
      const T a = (coeff[r] - q) / s;
      for (int64_t k = 0; k < c; ++k) out[k] *= a;
    } else {
      T m;
      const T a = (coeff[r] - q) / RowMaxExpSum(row, c, &m);
      int64_t k = 0;
      for (; k + kVec <= c; k += kVec) {
        for (int j = 0; j < kVec; ++j) out[k + j] = ExpOf(row[k + j] - m) * a;
      }
      for (; k < c; ++k) out[k] = ExpOf(row[k] - m) * a;
    }
    if (l != nullptr) {
      for (int64_t k = 0; k < c; ++k) out[k] += l[k];
    }
    if (classes[r] >= 0) out[classes[r]] -= coeff[r];
  }
}

// `w` positions of one batch item when D > 1: x, lpg and dx point at [n, 0, d0], classes and
// coeff at [n, d0]; classes are `d` elements apart.
template <typename T>
void SoftmaxCeGradColumns(const T* x, const int64_t* classes, const T* coeff, const T* lpg,
                          int64_t c, int64_t d, int64_t w, T* dx) {
  T m[kColumns];
  T ls[kColumns];
  T a[kColumns];
  ColumnLogSumExp(x, c, d, w, m, ls);
  for (int64_t j = 0; j < w; ++j) {
    a[j] = coeff[j];
    m[j] += ls[j];  // p = exp(x - (m + log s))
  }
  if (lpg != nullptr) {
    for (int64_t k = 0; k < c; ++k) {
      const T* __restrict l = lpg + k * d;
      for (int64_t j = 0; j < w; ++j) a[j] -= l[j];
    }
  }
  for (int64_t k = 0; k < c; ++k) {
    const T* __restrict row = x + k * d;
    T* __restrict out = dx + k * d;
    for (int64_t j = 0; j < w; ++j) out[j] = ExpOf(row[j] - m[j]) * a[j];
    if (lpg != nullptr) {
      const T* __restrict l = lpg + k * d;
      for (int64_t j = 0; j < w; ++j) out[j] += l[j];
    }
  }
  for (int64_t j = 0; j < w; ++j) {
    if (classes[j] >= 0) dx[classes[j] * d + j] -= coeff[j];
  }
}

template <typename T>
absl::Status SoftmaxCeGradTyped(KernelContext& ctx) {
  FLEET_ASSIGN_OR_RETURN(const LossDims dims, CheckLossShapes(ctx, kSceNames));
  const Tensor& x = ctx.input(0);
  std::vector<int64_t> classes;
  FLEET_RETURN_IF_ERROR(ReadClasses(ctx, kSceNames, dims.c, &classes));
  const T* weights = ctx.has_input(2) ? ctx.input(2).data<T>() : nullptr;
  FLEET_ASSIGN_OR_RETURN(const std::vector<T> coeff, Coefficients<T>(ctx, classes, weights));
  const T* lpg = nullptr;
  if (ctx.has_input(4)) {
    const Tensor& l = ctx.input(4);
    if (l.shape() != x.shape() || l.dtype() != x.dtype()) {
      return ctx.InvalidArgument(absl::StrCat("log_prob gradient is ", l.TypeString(),
                                              "; expected the scores' ", x.TypeString()));
    }
    lpg = l.data<T>();
  }
  Tensor* dx = ctx.Output(0, x.dtype(), x.shape());
  if (x.numel() == 0) return absl::OkStatus();
  const T* px = x.data<T>();
  T* pdx = dx->data<T>();
  const int64_t c = dims.c, d = dims.d;
  if (d == 1) {
    ctx.ParallelFor(dims.n, GrainFor(2 * c), [&](int64_t b, int64_t e) {
      SoftmaxCeGradRows(px, classes.data(), coeff.data(), lpg, c, b, e, pdx);
    });
    return absl::OkStatus();
  }
  const int64_t blocks = (d + kColumns - 1) / kColumns;
  ctx.ParallelFor(dims.n * blocks, GrainFor(2 * c * std::min(d, kColumns)),
                  [&](int64_t b, int64_t e) {
                    for (int64_t k = b; k < e; ++k) {
                      const int64_t n = k / blocks, d0 = (k % blocks) * kColumns;
                      const int64_t offset = n * c * d + d0, pos = n * d + d0;
                      SoftmaxCeGradColumns(px + offset, classes.data() + pos, coeff.data() + pos,
                                           lpg != nullptr ? lpg + offset : nullptr, c, d,
                                           std::min(kColumns, d - d0), pdx + offset);
                    }
                  });
  return absl::OkStatus();
}

template <typename T>
absl::Status NllGradTyped(KernelContext& ctx) {
  FLEET_ASSIGN_OR_RETURN(const LossDims dims, CheckLossShapes(ctx, kNllNames));
  if (!ctx.has_input(3)) return ctx.InvalidArgument("input 'OutGrad' is missing");
  const Tensor& x = ctx.input(0);
  std::vector<int64_t> classes;
  FLEET_RETURN_IF_ERROR(ReadClasses(ctx, kNllNames, dims.c, &classes));
  const T* weights = ctx.has_input(2) ? ctx.input(2).data<T>() : nullptr;
  FLEET_ASSIGN_OR_RETURN(const std::vector<T> coeff, Coefficients<T>(ctx, classes, weights));
  Tensor* dx = ctx.Output(0, x.dtype(), x.shape());
  T* out = dx->data<T>();
  std::fill(out, out + dx->numel(), T(0));
  const int64_t c = dims.c, d = dims.d;
  for (int64_t n = 0; n < dims.n; ++n) {
    for (int64_t j = 0; j < d; ++j) {
      const int64_t t = classes[n * d + j];
      if (t >= 0) out[(n * c + t) * d + j] = -coeff[n * d + j];
    }
  }
  return absl::OkStatus();
}

template <bool kSoftmax>
absl::Status LossGradKernel(KernelContext& ctx) {
  if (!ctx.has_input(0)) return ctx.InvalidArgument("input 0 (the scores) is missing");
  switch (ctx.input(0).dtype()) {
    case DataType::kF32:
      return kSoftmax ? SoftmaxCeGradTyped<float>(ctx) : NllGradTyped<float>(ctx);
    case DataType::kF64:
      return kSoftmax ? SoftmaxCeGradTyped<double>(ctx) : NllGradTyped<double>(ctx);
    default:
      return ctx.Unimplemented(
          absl::StrCat("input 0 is ", ctx.input(0).TypeString(), "; expected f32 or f64"));
  }
}

}  // namespace

void RegisterLossGradKernels(KernelTable& table) {
  const std::vector<DataType> types = {DataType::kF32, DataType::kF64};
  table.Add("fleet.softmax_ce_grad", Device::kCpu, types, &LossGradKernel<true>);
  table.Add("fleet.nll_loss_grad", Device::kCpu, types, &LossGradKernel<false>);
}

}  // namespace fleet::cpu
