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
#include "kernels/cpu/loss_internal.h"
#include "kernels/cpu/reduce_axes.h"
#include "kernels/cpu/vec_loops.h"

namespace fleet::cpu {
namespace {

constexpr int64_t kColumns = 256;  // positions (or short rows) per block
constexpr int64_t kShortRow = 47;  // rows of at most this many classes are handled in blocks

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
  FLEET_ASSIGN_OR_RETURN(const LossReduction reduction, GetLossReduction(ctx));
  FLEET_ASSIGN_OR_RETURN(const LossDims dims, CheckLossShapes(ctx, names));
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
  if (reduction == LossReduction::kNone) {
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
  if (reduction == LossReduction::kNone) return absl::OkStatus();

  double sum = 0;
  for (const T v : scratch) sum += static_cast<double>(v);
  if (reduction == LossReduction::kMean) {
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
