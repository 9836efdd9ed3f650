// Pieces shared by the loss kernels (loss.cc) and their gradients (grad_loss.cc):
// SoftmaxCrossEntropyLoss / NegativeLogLikelihoodLoss attribute and shape checks, label
// resolution, and the vectorised max / log-sum-exp loops. Private to kernels/ (the CUDA loss
// kernels share the attribute and shape checks, so both devices reject the same inputs alike).
#pragma once

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "executor/kernel.h"
#include "kernels/cpu/fast_exp.h"
#include "kernels/cpu/level_loops.h"
#include "kernels/cpu/vec_loops.h"

namespace fleet::cpu {

enum class LossReduction { kNone, kSum, kMean };

// Input names of the two ops, in ONNX order.
struct LossNames {
  const char* x;
  const char* labels;
  const char* weights;
};
constexpr LossNames kSceNames = {"scores", "labels", "weights"};
constexpr LossNames kNllNames = {"input", "target", "weight"};

struct LossDims {
  int64_t n = 0;  // batch
  int64_t c = 0;  // classes
  int64_t d = 1;  // positions per batch item (product of d1..dk)
};

inline absl::StatusOr<LossReduction> GetLossReduction(const KernelContext& ctx) {
  const std::string r = ctx.GetString("reduction", "mean");
  if (r == "none") return LossReduction::kNone;
  if (r == "sum") return LossReduction::kSum;
  if (r == "mean") return LossReduction::kMean;
  return ctx.InvalidArgument(
      absl::StrCat("reduction is '", r, "'; expected 'none', 'sum' or 'mean'"));
}

// Checks x [N, C, d1..dk], labels [N, d1..dk] (i32 or i64) and the optional weights [C].
inline absl::StatusOr<LossDims> CheckLossShapes(const KernelContext& ctx, const LossNames& names) {
  if (!ctx.has_input(0) || !ctx.has_input(1)) {
    return ctx.InvalidArgument(
        absl::StrCat("inputs '", names.x, "' and '", names.labels, "' are required"));
  }
  const Tensor& x = ctx.input(0);
  const Tensor& labels = ctx.input(1);
  if (x.rank() < 2) {
    return ctx.InvalidArgument(absl::StrCat("input '", names.x, "' is ", x.TypeString(),
                                            "; expected rank >= 2 ([N, C] or [N, C, d1, ...])"));
  }
  if (labels.dtype() != DataType::kI32 && labels.dtype() != DataType::kI64) {
    return ctx.InvalidArgument(absl::StrCat("input '", names.labels, "' is ", labels.TypeString(),
                                            "; expected i32 or i64"));
  }
  std::vector<int64_t> expected = x.shape();
  expected.erase(expected.begin() + 1);
  if (labels.shape() != expected) {
    return ctx.InvalidArgument(absl::StrCat("input '", names.labels, "' has shape ",
                                            ShapeString(labels.shape()), "; expected ",
                                            ShapeString(expected), " ('", names.x, "' shape ",
                                            ShapeString(x.shape()), " without the class dim)"));
  }
  LossDims dims;
  dims.n = x.dim(0);
  dims.c = x.dim(1);
  for (int i = 2; i < x.rank(); ++i) dims.d *= x.dim(i);
  if (ctx.has_input(2)) {
    const Tensor& w = ctx.input(2);
    if (w.dtype() != x.dtype() || w.rank() != 1 || w.dim(0) != dims.c) {
      return ctx.InvalidArgument(absl::StrCat("input '", names.weights, "' is ", w.TypeString(),
                                              "; expected ", std::string(DataTypeName(x.dtype())),
                                              "[", dims.c, "] (one weight per class)"));
    }
  }
  return dims;
}

// "[1,0,2]": the multi-index of flat position `flat` in `shape`.
inline std::string PositionString(const std::vector<int64_t>& shape, int64_t flat) {
  std::vector<int64_t> index(shape.size());
  for (int i = static_cast<int>(shape.size()) - 1; i >= 0; --i) {
    index[i] = shape[i] > 0 ? flat % shape[i] : 0;
    flat = shape[i] > 0 ? flat / shape[i] : 0;
  }
  return absl::StrCat("[", absl::StrJoin(index, ","), "]");
}

// Writes each position's class, or -1 where the label is ignore_index; rejects labels outside
// [0, C) that are not ignore_index.
template <typename L>
absl::Status ResolveLabels(const KernelContext& ctx, const LossNames& names, int64_t c,
                           std::vector<int64_t>* classes) {
  const Tensor& labels = ctx.input(1);
  const bool has_ignore = ctx.HasAttr("ignore_index");
  const int64_t ignore = ctx.GetInt("ignore_index", 0);
  const L* p = labels.data<L>();
  const int64_t count = labels.numel();
  classes->resize(count);
  int64_t* out = classes->data();
  for (int64_t i = 0; i < count; ++i) {
    const int64_t t = static_cast<int64_t>(p[i]);
    if (has_ignore && t == ignore) {
      out[i] = -1;
    } else if (t < 0 || t >= c) {
      return ctx.InvalidArgument(absl::StrCat(
          "label ", t, " at position ", PositionString(labels.shape(), i), " of input '",
          names.labels, "' is out of range; expected a class in [0, ", c, ")",
          has_ignore ? absl::StrCat(" or ignore_index ", ignore) : " (no ignore_index is set)"));
    } else {
      out[i] = t;
    }
  }
  return absl::OkStatus();
}

// Combines kWidth lanes pairwise: log2(kWidth) dependent steps of fixed length (which vectorise)
// rather than kWidth - 1 dependent scalar steps.
template <int kWidth, typename T, typename Op>
inline T ReduceLanes(T* lanes, Op op) {
  if constexpr (kWidth == 1) {
    return lanes[0];
  } else {
    for (int j = 0; j < kWidth / 2; ++j) lanes[j] = op(lanes[j], lanes[j + kWidth / 2]);
    return ReduceLanes<kWidth / 2>(lanes, op);
  }
}

// m = max of x[0, n) and returns the sum of exp(x - m). The last n % kVec elements are copied into
// a block padded with -inf (exp gives 0 there), so that the tail runs the vector loops too.
namespace at_level {
template <typename T>
FLEET_LOOP_INLINE T RowMaxExpSum(const T* __restrict x, int64_t n, T* m_out) {
  constexpr T kNegInf = -std::numeric_limits<T>::infinity();
  const int64_t full = n - n % kVec;
  T tail[kVec];
  for (int j = 0; j < kVec; ++j) tail[j] = kNegInf;
  for (int64_t i = full; i < n; ++i) tail[i - full] = x[i];
  T lanes[kVec];
  for (int j = 0; j < kVec; ++j) lanes[j] = tail[j];
  for (int64_t i = 0; i < full; i += kVec) {
    for (int j = 0; j < kVec; ++j) lanes[j] = MaxOf(lanes[j], x[i + j]);
  }
  const T m = ReduceLanes<kVec>(lanes, [](T a, T b) { return MaxOf(a, b); });
  T sums[kVec];
  for (int j = 0; j < kVec; ++j) sums[j] = ExpOf(tail[j] - m);
  for (int64_t i = 0; i < full; i += kVec) {
    for (int j = 0; j < kVec; ++j) sums[j] += ExpOf(x[i + j] - m);
  }
  *m_out = m;
  return ReduceLanes<kVec>(sums, [](T a, T b) { return a + b; });
}
}  // namespace at_level

template <typename T>
T RowMaxExpSum(const T* x, int64_t n, T* m_out) {
  return RunLoopAtLevel<LoopOf<&at_level::RowMaxExpSum<T>>>(x, n, m_out);
}

// s += exp(x - m), elementwise.
namespace at_level {
template <typename T>
FLEET_LOOP_INLINE void AccumulateExp(const T* __restrict x, const T* __restrict m, T* __restrict s,
                                     int64_t n) {
  int64_t i = 0;
  for (; i + kVec <= n; i += kVec) {
    for (int j = 0; j < kVec; ++j) s[i + j] += ExpOf(x[i + j] - m[i + j]);
  }
  for (; i < n; ++i) s[i] += ExpOf(x[i] - m[i]);
}
}  // namespace at_level

template <typename T>
void AccumulateExp(const T* x, const T* m, T* s, int64_t n) {
  RunLoopAtLevel<LoopOf<&at_level::AccumulateExp<T>>>(x, m, s, n);
}

template <typename T>
inline T WeightOf(const T* weights, int64_t t) {
  return weights != nullptr ? weights[t] : T(1);
}

// m = max over the classes and ls = log(sum(exp(x - m))) for `w` positions whose classes lie `d`
// elements apart (x points at class 0 of the first position).
template <typename T>
inline void ColumnLogSumExp(const T* x, int64_t c, int64_t d, int64_t w, T* m, T* ls) {
  for (int64_t j = 0; j < w; ++j) {
    m[j] = -std::numeric_limits<T>::infinity();
    ls[j] = 0;
  }
  for (int64_t k = 0; k < c; ++k) MaxVector(x + k * d, m, w);
  for (int64_t k = 0; k < c; ++k) AccumulateExp(x + k * d, m, ls, w);
  for (int64_t j = 0; j < w; ++j) ls[j] = std::log(ls[j]);
}

}  // namespace fleet::cpu
