// Shape inference of the neural-network layers: Conv and the pools (output sizes from kernel,
// strides, dilations, pads or auto_pad, and ceil_mode, as ONNX computes them), the
// normalizations, Softmax and its kin, and the classification losses.
#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "ir/shape_infer.h"
#include "ir/status_macros.h"

namespace fleet {
namespace {

// An ints attribute of `n` values, or `fill` repeated when the op does not set it.
absl::StatusOr<std::vector<int64_t>> IntsOr(const InferContext& ctx, const char* name, size_t n,
                                            int64_t fill) {
  const std::vector<int64_t>* v = ctx.Ints(name);
  if (v == nullptr || v->empty()) return std::vector<int64_t>(n, fill);
  if (v->size() != n) {
    return ShapeError(absl::StrCat("attribute '", name, "' has ", v->size(), " values; expected ",
                                   n, " for ", n == 0 ? 0 : n, " spatial dims"));
  }
  return *v;
}

// The spatial output dims of a window op (Conv, the pools) over X [N, C, spatial...].
absl::StatusOr<Shape> WindowOutputDims(const InferContext& ctx, const Shape& x,
                                       const std::vector<int64_t>& kernel, bool ceil_mode) {
  const size_t n = kernel.size();
  FLEET_ASSIGN_OR_RETURN(std::vector<int64_t> strides, IntsOr(ctx, "strides", n, 1));
  FLEET_ASSIGN_OR_RETURN(std::vector<int64_t> dilations, IntsOr(ctx, "dilations", n, 1));
  FLEET_ASSIGN_OR_RETURN(std::vector<int64_t> pads, IntsOr(ctx, "pads", 2 * n, 0));
  const std::string auto_pad = ctx.String("auto_pad", "NOTSET");
  Shape out;
  for (size_t i = 0; i < n; ++i) {
    if (strides[i] <= 0 || dilations[i] <= 0 || kernel[i] <= 0) {
      return ShapeError(absl::StrCat("window dim ", i, " has kernel ", kernel[i], ", stride ",
                                     strides[i], ", dilation ", dilations[i],
                                     "; each must be >= 1"));
    }
    const int64_t in = x[2 + i];
    if (in < 0) {
      out.push_back(-1);
      continue;
    }
    std::optional<int64_t> window = CheckedMul(kernel[i] - 1, dilations[i]);
    if (window) window = CheckedAdd(*window, 1);
    std::optional<int64_t> padded = CheckedAdd(in, pads[i]);
    if (padded) padded = CheckedAdd(*padded, pads[i + n]);
    if (auto_pad == "VALID") {
      padded = in;
    } else if (window && (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER")) {
      // ONNX's total padding for SAME: enough that the output is ceil(in / stride).
      const int64_t residual = in % strides[i];
      const int64_t total = residual == 0 ? *window - strides[i] : *window - residual;
      padded = CheckedAdd(in, std::max<int64_t>(total, 0));
    }
    if (!window || !padded) {  // sizes beyond int64: unknown rather than wrapped around
      out.push_back(-1);
      continue;
    }
    if (*padded < *window) {
      return ShapeError(absl::StrCat("input 'X' ", DimsString(x), ": spatial dim ", i,
                                     " padded to ", *padded, " is smaller than the window ",
                                     *window));
    }
    const int64_t span = *padded - *window;
    const int64_t steps = span / strides[i] + (ceil_mode && span % strides[i] != 0 ? 1 : 0);
    // Where ONNX's shape inference and the runtimes (ONNX Runtime, Fleet's kernels) disagree,
    // the size is unknown rather than one of them: with ceil_mode, a last window that would
    // start in the end padding is dropped at run time; with SAME padding the runtimes give
    // ceil(in / stride) whatever ceil_mode says.
    const bool same = auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER";
    const int64_t pad_begin = same || auto_pad == "VALID" ? 0 : pads[i];
    const std::optional<int64_t> last_start = CheckedMul(steps, strides[i]);
    const std::optional<int64_t> input_end = CheckedAdd(in, pad_begin);
    const bool dropped =
        ceil_mode && !same && (!last_start || !input_end || *last_start >= *input_end);
    const bool same_differs = same && 1 + steps != in / strides[i] + (in % strides[i] != 0);
    out.push_back(dropped || same_differs ? -1 : 1 + steps);
  }
  return out;
}

absl::Status InferConv(InferContext& ctx) {
  const DataType dtype = ctx.InputDtype("X");
  const Shape* x = ctx.InputShape("X");
  const Shape* w = ctx.InputShape("W");
  if (x != nullptr && x->size() < 3) {
    return ShapeError(absl::StrCat("input 'X' ", DimsString(*x), " has rank ", x->size(),
                                   "; Conv needs [N, C, spatial...]"));
  }
  if (x != nullptr && w != nullptr && w->size() != x->size()) {
    return ShapeError(absl::StrCat("input 'W' ", DimsString(*w), " has rank ", w->size(),
                                   "; expected ", x->size(), " like 'X' ", DimsString(*x)));
  }
  const int64_t group = ctx.Int("group", 1);
  if (x != nullptr && w != nullptr && (*x)[1] >= 0 && (*w)[1] >= 0 && (*x)[1] != (*w)[1] * group) {
    return ShapeError(absl::StrCat("input 'X' ", DimsString(*x), " has ", (*x)[1],
                                   " channels; 'W' ", DimsString(*w), " with group ", group,
                                   " expects ", (*w)[1] * group));
  }
  const int64_t m = w != nullptr ? (*w)[0] : -1;
  if (const Shape* b = ctx.InputShape("B")) {
    if (b->size() != 1 || (m >= 0 && (*b)[0] >= 0 && (*b)[0] != m)) {
      return ShapeError(absl::StrCat("input 'B' ", DimsString(*b), " must be [", m,
                                     "], one bias per output channel"));
    }
  }
  if (x == nullptr) {
    ctx.SetOutput("Y", dtype, std::nullopt);
    return absl::OkStatus();
  }
  std::vector<int64_t> kernel;
  if (const std::vector<int64_t>* k = ctx.Ints("kernel_shape"); k != nullptr && !k->empty()) {
    kernel = *k;
  } else if (w != nullptr) {
    kernel.assign(w->begin() + 2, w->end());
  }
  Shape y = {(*x)[0], m};
  if (kernel.size() != x->size() - 2 ||
      std::any_of(kernel.begin(), kernel.end(), [](int64_t k) { return k < 0; })) {
    y.resize(x->size(), -1);  // kernel unknown: the rank is all we know
  } else {
    FLEET_ASSIGN_OR_RETURN(Shape spatial, WindowOutputDims(ctx, *x, kernel, false));
    y.insert(y.end(), spatial.begin(), spatial.end());
  }
  ctx.SetOutput("Y", dtype, std::move(y));
  return absl::OkStatus();
}

absl::Status InferPool(InferContext& ctx) {
  TensorType t = ctx.InputType("X");
  if (t.shape) {
    const Shape& x = *t.shape;
    if (x.size() < 3) {
      return ShapeError(absl::StrCat("input 'X' ", DimsString(x), " has rank ", x.size(), "; ",
                                     ctx.op().type, " needs [N, C, spatial...]"));
    }
    const std::vector<int64_t>* kernel = ctx.Ints("kernel_shape");
    if (kernel == nullptr || kernel->size() != x.size() - 2) {
      return ShapeError(absl::StrCat("attribute 'kernel_shape' must have ", x.size() - 2,
                                     " values for input 'X' ", DimsString(x)));
    }
    FLEET_ASSIGN_OR_RETURN(Shape spatial,
                           WindowOutputDims(ctx, x, *kernel, ctx.Int("ceil_mode", 0) != 0));
    t.shape = Shape{x[0], x[1]};
    t.shape->insert(t.shape->end(), spatial.begin(), spatial.end());
  }
  ctx.SetOutput("Indices", DataType::kI64, t.shape);
  ctx.SetOutput("Y", std::move(t));
  return absl::OkStatus();
}

absl::Status InferGlobalPool(InferContext& ctx) {
  TensorType t = ctx.InputType("X");
  if (t.shape) {
    if (t.shape->size() < 3) {
      return ShapeError(absl::StrCat("input 'X' ", DimsString(*t.shape), " has rank ",
                                     t.shape->size(), "; ", ctx.op().type,
                                     " needs [N, C, spatial...]"));
    }
    std::fill(t.shape->begin() + 2, t.shape->end(), 1);
  }
  ctx.SetOutput("Y", std::move(t));
  return absl::OkStatus();
}

// Checks that each per-channel input of a normalization is [C] for X's C = X[1].
absl::Status CheckChannelInputs(const InferContext& ctx, const char* x_slot,
                                std::initializer_list<const char*> slots) {
  const Shape* x = ctx.InputShape(x_slot);
  const int64_t c = x != nullptr && x->size() >= 2 ? (*x)[1] : -1;
  for (const char* slot : slots) {
    const Shape* s = ctx.InputShape(slot);
    if (s == nullptr) continue;
    if (s->size() != 1 || (c >= 0 && (*s)[0] >= 0 && (*s)[0] != c)) {
      return ShapeError(absl::StrCat("input '", slot, "' ", DimsString(*s), " must be [",
                                     c < 0 ? std::string("C") : absl::StrCat(c), "] for input '",
                                     x_slot, "' ", x != nullptr ? DimsString(*x) : "",
                                     " (one per channel)"));
    }
  }
  return absl::OkStatus();
}

absl::Status InferBatchNorm(InferContext& ctx) {
  FLEET_RETURN_IF_ERROR(CheckChannelInputs(ctx, "X", {"scale", "B", "input_mean", "input_var"}));
  ctx.SetOutput("Y", ctx.InputType("X"));
  ctx.SetOutput("running_mean", ctx.InputType("input_mean"));
  ctx.SetOutput("running_var", ctx.InputType("input_var"));
  return absl::OkStatus();
}

absl::Status InferLayerNorm(InferContext& ctx) {
  TensorType x = ctx.InputType("X");
  TensorType stats{
      DataTypeFromOnnx(static_cast<int>(ctx.Int("stash_type", 1))).value_or(DataType::kUndefined),
      std::nullopt};
  if (x.shape) {
    const int64_t rank = static_cast<int64_t>(x.shape->size());
    FLEET_ASSIGN_OR_RETURN(int64_t axis, NormalizeAxis(ctx.Int("axis", -1), rank, "axis"));
    // Scale and B broadcast to the normalized dims X[axis:].
    const Shape normalized(x.shape->begin() + axis, x.shape->end());
    for (const char* slot : {"Scale", "B"}) {
      const Shape* s = ctx.InputShape(slot);
      if (s == nullptr) continue;
      FLEET_ASSIGN_OR_RETURN(std::optional<Shape> b, Broadcast(&normalized, s, "X[axis:]", slot));
      if (!Compatible({DataType::kUndefined, *b}, {DataType::kUndefined, normalized})) {
        return ShapeError(absl::StrCat("input '", slot, "' ", DimsString(*s),
                                       " does not broadcast to the normalized dims ",
                                       DimsString(normalized)));
      }
    }
    stats.shape = *x.shape;
    std::fill(stats.shape->begin() + axis, stats.shape->end(), 1);
  }
  ctx.SetOutput("Mean", stats);
  ctx.SetOutput("InvStdDev", std::move(stats));
  ctx.SetOutput("Y", std::move(x));
  return absl::OkStatus();
}

// Softmax, LogSoftmax, Hardmax: the input's type; `axis` must fit its rank.
absl::Status InferSoftmax(InferContext& ctx) {
  const int64_t rank = ctx.InputRank("input");
  if (rank >= 0) FLEET_RETURN_IF_ERROR(NormalizeAxis(ctx.Int("axis", -1), rank, "axis").status());
  ctx.SetOutput("output", ctx.InputType("input"));
  return absl::OkStatus();
}

// SoftmaxCrossEntropyLoss and NegativeLogLikelihoodLoss: scores [N, C, d...], labels [N, d...];
// the loss is [N, d...] for reduction 'none', else a scalar.
InferFn ClassificationLoss(const char* scores, const char* labels, const char* weights,
                           const char* loss, const char* log_prob) {
  return [=](InferContext& ctx) -> absl::Status {
    const Shape* s = ctx.InputShape(scores);
    const Shape* l = ctx.InputShape(labels);
    if (s != nullptr && s->size() < 2) {
      return ShapeError(
          absl::StrCat("input '", scores, "' ", DimsString(*s), " must be [N, C, ...]"));
    }
    std::optional<Shape> per_item;
    if (s != nullptr) {
      per_item = *s;
      per_item->erase(per_item->begin() + 1);
    }
    if (l != nullptr && per_item &&
        !Compatible({DataType::kUndefined, *l}, {DataType::kUndefined, *per_item})) {
      return ShapeError(absl::StrCat("input '", labels, "' ", DimsString(*l), " must be ",
                                     DimsString(*per_item), " for '", scores, "' ", DimsString(*s),
                                     " (scores without the class dim)"));
    }
    if (!per_item && l != nullptr) per_item = *l;
    const Shape* w = ctx.InputShape(weights);
    if (w != nullptr && s != nullptr &&
        (w->size() != 1 || ((*w)[0] >= 0 && (*s)[1] >= 0 && (*w)[0] != (*s)[1]))) {
      return ShapeError(absl::StrCat("input '", weights, "' ", DimsString(*w), " must be [",
                                     (*s)[1], "], one weight per class"));
    }
    const DataType dtype = ctx.InputDtype(scores);
    if (ctx.String("reduction", "mean") == "none") {
      ctx.SetOutput(loss, dtype, std::move(per_item));
    } else {
      ctx.SetOutput(loss, dtype, Shape{});
    }
    if (log_prob != nullptr) ctx.SetOutput(log_prob, ctx.InputType(scores));
    return absl::OkStatus();
  };
}

}  // namespace

void AddNnInference(InferTable& table) {
  table.emplace_back("Conv", InferConv);
  for (const char* op : {"MaxPool", "AveragePool", "LpPool"}) table.emplace_back(op, InferPool);
  for (const char* op : {"GlobalAveragePool", "GlobalMaxPool", "GlobalLpPool"}) {
    table.emplace_back(op, InferGlobalPool);
  }
  table.emplace_back("BatchNormalization", InferBatchNorm);
  table.emplace_back("LayerNormalization", InferLayerNorm);
  for (const char* op : {"InstanceNormalization", "MeanVarianceNormalization", "LRN"}) {
    table.emplace_back(op, SameAsFirstInput());
  }
  for (const char* op : {"Softmax", "LogSoftmax", "Hardmax"}) table.emplace_back(op, InferSoftmax);
  table.emplace_back("SoftmaxCrossEntropyLoss",
                     ClassificationLoss("scores", "labels", "weights", "output", "log_prob"));
  table.emplace_back("NegativeLogLikelihoodLoss",
                     ClassificationLoss("input", "target", "weight", "loss", nullptr));
}

}  // namespace fleet
