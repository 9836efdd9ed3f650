// SoftmaxCrossEntropyLoss and NegativeLogLikelihoodLoss (opset 13).
//
// Both view their first input as [N, C, D] (D = product of d1..dk; 1 for rank 2) and the labels as
// [N, D]. For each position (n, d) whose label t is not ignore_index:
//   NegativeLogLikelihoodLoss: loss = -x[n, t, d] * w[t]
//   SoftmaxCrossEntropyLoss:   loss = -log_softmax(x[n, :, d])[t] * w[t]
//                                   = (log(sum_c exp(x[n, c, d] - m)) - (x[n, t, d] - m)) * w[t]
// with m the max over the classes (so exp never overflows), w = 1 without the weights input, and
// loss 0 (weight 0) at ignored positions. reduction 'none' keeps the labels' shape; 'sum' adds the
// losses; 'mean' divides that sum by the sum of the applied weights (the count of non-ignored
// positions without weights; 0/0 is NaN, as in ONNX's reference and PyTorch). Both sums are taken
// in double.
//
// Labels are checked once, before any arithmetic: a label outside [0, C) that is not ignore_index
// is INVALID_ARGUMENT naming the label and its position. SoftmaxCrossEntropyLoss then reads each
// row once for its max and once for the sum of exponentials (a single "online" pass would need two
// exponentials per element; the row is in cache for the second read), and writes the optional
// log_prob output (x - m) - log(s) only when it is requested. Loops run over contiguous memory and
// vectorise: D > 1 works on blocks of up to kColumns positions, reducing across positions; rows of
// few classes (C <= kShortRow, shorter than a few vectors) are transposed in blocks of kColumns
// rows and reduced the same way; longer rows are reduced along the row.
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "ir/status_macros.h"
#include "kernels/cpu/fast_exp.h"
#include "kernels/cpu/groups.h"
#include "kernels/cpu/reduce_axes.h"
#include "kernels/cpu/vec_loops.h"

namespace fleet::cpu {
namespace {

enum class Reduction { kNone, kSum, kMean };

constexpr int64_t kColumns = 256;  // positions (or short rows) per block
constexpr int64_t kShortRow = 47;  // rows of at most this many classes are handled in blocks

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

absl::StatusOr<Reduction> GetReduction(const KernelContext& ctx) {
  const std::string r = ctx.GetString("reduction", "mean");
  if (r == "none") return Reduction::kNone;
  if (r == "sum") return Reduction::kSum;
  if (r == "mean") return Reduction::kMean;
  return ctx.InvalidArgument(
      absl::StrCat("reduction is '", r, "'; expected 'none', 'sum' or 'mean'"));
}

// Checks x [N, C, d1..dk], labels [N, d1..dk] (i32 or i64) and the optional weights [C].
absl::StatusOr<LossDims> CheckShapes(const KernelContext& ctx, const LossNames& names) {
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
std::string PositionString(const std::vector<int64_t>& shape, int64_t flat) {
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
template <typename T>
T RowMaxExpSum(const T* __restrict x, int64_t n, T* m_out) {
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

// s += exp(x - m), elementwise.
template <typename T>
void AccumulateExp(const T* __restrict x, const T* __restrict m, T* __restrict s, int64_t n) {
  int64_t i = 0;
  for (; i + kVec <= n; i += kVec) {
    for (int j = 0; j < kVec; ++j) s[i + j] += ExpOf(x[i + j] - m[i + j]);
  }
  for (; i < n; ++i) s[i] += ExpOf(x[i] - m[i]);
}

template <typename T>
inline T WeightOf(const T* weights, int64_t t) {
  return weights != nullptr ? weights[t] : T(1);
}

// SoftmaxCrossEntropyLoss over rows [begin, end) of x viewed as [rows, c] (D == 1).
template <typename T>
void SoftmaxLossRows(const T* x, const int64_t* classes, const T* weights, int64_t c, int64_t begin,
                     int64_t end, T* loss, T* log_prob) {
  for (int64_t r = begin; r < end; ++r) {
    const T* row = x + r * c;
    T m;
    const T log_s = std::log(RowMaxExpSum(row, c, &m));
    // (x - m) - log(s), not x - (m + log(s)): the latter rounds log(s) away when |m| is large.
    if (log_prob != nullptr) SubTwoScalars(row, m, log_s, log_prob + r * c, c);
    const int64_t t = classes[r];
    loss[r] = t < 0 ? T(0) : (log_s - (row[t] - m)) * WeightOf(weights, t);
  }
}

// m = max over the classes and ls = log(sum(exp(x - m))) for `w` positions whose classes lie `d`
// elements apart (x points at class 0 of the first position).
template <typename T>
void ColumnLogSumExp(const T* x, int64_t c, int64_t d, int64_t w, T* m, T* ls) {
  for (int64_t j = 0; j < w; ++j) {
    m[j] = -std::numeric_limits<T>::infinity();
    ls[j] = 0;
  }
  for (int64_t k = 0; k < c; ++k) MaxVector(x + k * d, m, w);
  for (int64_t k = 0; k < c; ++k) AccumulateExp(x + k * d, m, ls, w);
  for (int64_t j = 0; j < w; ++j) ls[j] = std::log(ls[j]);
}

// `w` positions of one batch item when D > 1: x and log_prob point at [n, 0, d0], classes and
// loss at [n, d0]; classes are `d` elements apart.
template <typename T>
void SoftmaxLossColumns(const T* x, const int64_t* classes, const T* weights, int64_t c, int64_t d,
                        int64_t w, T* loss, T* log_prob) {
  T m[kColumns];
  T ls[kColumns];
  ColumnLogSumExp(x, c, d, w, m, ls);
  if (log_prob != nullptr) {
    for (int64_t k = 0; k < c; ++k) SubTwoVectors(x + k * d, m, ls, log_prob + k * d, w);
  }
  for (int64_t j = 0; j < w; ++j) {
    const int64_t t = classes[j];
    loss[j] = t < 0 ? T(0) : (ls[j] - (x[t * d + j] - m[j])) * WeightOf(weights, t);
  }
}

// `w` <= kColumns rows of [rows, c] with few classes (D == 1): a row is shorter than a vector, so
// the rows are transposed into `block` ([c, kColumns]) and reduced across rows instead.
template <typename T>
void SoftmaxLossShortRows(const T* x, const int64_t* classes, const T* weights, int64_t c,
                          int64_t w, T* loss, T* log_prob, T* block) {
  for (int64_t r = 0; r < w; ++r) {
    for (int64_t k = 0; k < c; ++k) block[k * kColumns + r] = x[r * c + k];
  }
  T m[kColumns];
  T ls[kColumns];
  ColumnLogSumExp(block, c, kColumns, w, m, ls);
  for (int64_t r = 0; r < w; ++r) {
    const T* row = x + r * c;
    if (log_prob != nullptr) {
      T* out = log_prob + r * c;
      for (int64_t k = 0; k < c; ++k) out[k] = (row[k] - m[r]) - ls[r];
    }
    const int64_t t = classes[r];
    loss[r] = t < 0 ? T(0) : (ls[r] - (row[t] - m[r])) * WeightOf(weights, t);
  }
}

template <typename T>
void SoftmaxLoss(const KernelContext& ctx, const T* x, const int64_t* classes, const T* weights,
                 const LossDims& dims, T* loss, T* log_prob) {
  const int64_t c = dims.c, d = dims.d;
  if (d == 1 && c > kShortRow) {
    ctx.ParallelFor(dims.n, GrainFor(c), [&](int64_t b, int64_t e) {
      SoftmaxLossRows(x, classes, weights, c, b, e, loss, log_prob);
    });
    return;
  }
  if (d == 1) {
    const int64_t blocks = (dims.n + kColumns - 1) / kColumns;
    ctx.ParallelFor(blocks, GrainFor(c * kColumns), [&](int64_t b, int64_t e) {
      std::vector<T> block(c * kColumns);
      for (int64_t k = b; k < e; ++k) {
        const int64_t r0 = k * kColumns;
        SoftmaxLossShortRows(x + r0 * c, classes + r0, weights, c, std::min(kColumns, dims.n - r0),
                             loss + r0, log_prob != nullptr ? log_prob + r0 * c : nullptr,
                             block.data());
      }
    });
    return;
  }
  const int64_t blocks = (d + kColumns - 1) / kColumns;
  ctx.ParallelFor(dims.n * blocks, GrainFor(c * std::min(d, kColumns)), [&](int64_t b, int64_t e) {
    for (int64_t k = b; k < e; ++k) {
      const int64_t n = k / blocks, d0 = (k % blocks) * kColumns;
      const int64_t x_offset = n * c * d + d0, pos = n * d + d0;
      SoftmaxLossColumns(x + x_offset, classes + pos, weights, c, d, std::min(kColumns, d - d0),
                         loss + pos, log_prob != nullptr ? log_prob + x_offset : nullptr);
    }
  });
}

template <typename T>
void NllLoss(const T* x, const int64_t* classes, const T* weights, const LossDims& dims, T* loss) {
  const int64_t c = dims.c, d = dims.d;
  for (int64_t n = 0; n < dims.n; ++n) {
    const T* plane = x + n * c * d;
    const int64_t* cls = classes + n * d;
    T* out = loss + n * d;
    for (int64_t j = 0; j < d; ++j) {
      const int64_t t = cls[j];
      out[j] = t < 0 ? T(0) : -plane[t * d + j] * WeightOf(weights, t);
    }
  }
}

template <typename T, bool kSoftmax>
absl::Status RunLoss(KernelContext& ctx) {
  const LossNames& names = kSoftmax ? kSceNames : kNllNames;
  FLEET_ASSIGN_OR_RETURN(const Reduction reduction, GetReduction(ctx));
  FLEET_ASSIGN_OR_RETURN(const LossDims dims, CheckShapes(ctx, names));
  const Tensor& x = ctx.input(0);
  const Tensor& labels = ctx.input(1);
  std::vector<int64_t> classes;
  if (labels.dtype() == DataType::kI32) {
    FLEET_RETURN_IF_ERROR(ResolveLabels<int32_t>(ctx, names, dims.c, &classes));
  } else {
    FLEET_RETURN_IF_ERROR(ResolveLabels<int64_t>(ctx, names, dims.c, &classes));
  }
  const T* weights = ctx.has_input(2) ? ctx.input(2).data<T>() : nullptr;

  std::vector<T> scratch;
  T* loss;
  if (reduction == Reduction::kNone) {
    loss = ctx.Output(0, x.dtype(), labels.shape())->data<T>();
  } else {
    scratch.resize(classes.size());
    loss = scratch.data();
  }
  if constexpr (kSoftmax) {
    T* log_prob = ctx.num_outputs() > 1 ? ctx.Output(1, x.dtype(), x.shape())->data<T>() : nullptr;
    SoftmaxLoss(ctx, x.data<T>(), classes.data(), weights, dims, loss, log_prob);
  } else {
    NllLoss(x.data<T>(), classes.data(), weights, dims, loss);
  }
  if (reduction == Reduction::kNone) return absl::OkStatus();

  double sum = 0;
  for (const T v : scratch) sum += static_cast<double>(v);
  if (reduction == Reduction::kMean) {
    double weight_sum = 0;
    for (const int64_t t : classes) {
      if (t >= 0) weight_sum += static_cast<double>(WeightOf(weights, t));
    }
    sum /= weight_sum;
  }
  *ctx.Output(0, x.dtype(), {})->data<T>() = static_cast<T>(sum);
  return absl::OkStatus();
}

template <bool kSoftmax>
absl::Status LossKernel(KernelContext& ctx) {
  switch (ctx.input(0).dtype()) {
    case DataType::kF32:
      return RunLoss<float, kSoftmax>(ctx);
    case DataType::kF64:
      return RunLoss<double, kSoftmax>(ctx);
    default:
      return ctx.Unimplemented(absl::StrCat("input '", kSoftmax ? kSceNames.x : kNllNames.x,
                                            "' is ", ctx.input(0).TypeString(),
                                            "; expected f32 or f64"));
  }
}

}  // namespace

void RegisterLossKernels(KernelTable& table) {
  const std::vector<DataType> types = {DataType::kF32, DataType::kF64};
  table.Add("SoftmaxCrossEntropyLoss", Device::kCpu, types, &LossKernel<true>);
  table.Add("NegativeLogLikelihoodLoss", Device::kCpu, types, &LossKernel<false>);
}

}  // namespace fleet::cpu
