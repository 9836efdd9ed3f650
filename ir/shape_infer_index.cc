// Shape inference of the joining, cutting and indexing ops: Concat, Split, Slice (constant
// starts/ends/axes/steps, clamped as ONNX does), Gather, GatherElements, the scatters, TopK,
// OneHot, Range, NonZero, Compress and the ops shaped like their input (CumSum, Trilu, EyeLike).
#include <algorithm>
#include <cstdint>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "ir/shape_infer.h"
#include "ir/status_macros.h"

namespace fleet {
namespace {

absl::Status InferConcat(InferContext& ctx) {
  const int n = ctx.NumInputs("inputs");
  DataType dtype = DataType::kUndefined;
  std::optional<Shape> out;
  int64_t axis = 0;
  int first = -1;  // the first input of known rank
  for (int i = 0; i < n; ++i) {
    if (dtype == DataType::kUndefined) dtype = ctx.InputDtype("inputs", i);
    const Shape* s = ctx.InputShape("inputs", i);
    if (s == nullptr) continue;
    const std::string name = absl::StrCat("inputs[", i, "]");
    if (!out) {
      FLEET_ASSIGN_OR_RETURN(axis, NormalizeAxis(ctx.Int("axis", 0), s->size(), "axis"));
      out = *s;
      first = i;
      continue;
    }
    const std::string first_name = absl::StrCat("inputs[", first, "]");
    if (s->size() != out->size()) {
      return ShapeError(absl::StrCat("input '", name, "' ", DimsString(*s), " has rank ", s->size(),
                                     "; '", first_name, "' has rank ", out->size()));
    }
    for (size_t k = 0; k < s->size(); ++k) {
      int64_t& d = (*out)[k];
      const int64_t e = (*s)[k];
      if (static_cast<int64_t>(k) == axis) {
        d = d < 0 || e < 0 ? -1 : CheckedAdd(d, e).value_or(-1);
      } else if (d >= 0 && e >= 0 && d != e) {
        return ShapeError(absl::StrCat("input '", name, "' ", DimsString(*s), " differs from '",
                                       first_name, "' in dim ", k, " (", e, " vs ", d,
                                       "); only the axis ", axis, " may differ"));
      } else if (d < 0) {
        d = e;
      }
    }
  }
  // An input of unknown rank makes the axis dim unknown.
  for (int i = 0; out && i < n; ++i) {
    if (ctx.InputShape("inputs", i) == nullptr) (*out)[axis] = -1;
  }
  ctx.SetOutput("concat_result", dtype, std::move(out));
  return absl::OkStatus();
}

absl::Status InferSplit(InferContext& ctx) {
  TensorType t = ctx.InputType("input");
  const int outputs = ctx.NumOutputs("outputs");
  if (!t.shape) {
    for (int i = 0; i < outputs; ++i) ctx.SetOutput("outputs", t, i);
    return absl::OkStatus();
  }
  FLEET_ASSIGN_OR_RETURN(int64_t axis, NormalizeAxis(ctx.Int("axis", 0), t.shape->size(), "axis"));
  const int64_t dim = (*t.shape)[axis];
  std::optional<std::vector<int64_t>> split = ctx.InputInts("split");
  if (!ctx.HasInput("split")) {
    if (dim >= 0 && outputs > 0 && dim % outputs != 0) {
      return ShapeError(absl::StrCat("input 'input' ", DimsString(*t.shape), ": dim ", axis, " (",
                                     dim, ") does not split evenly into ", outputs, " outputs"));
    }
    split = std::vector<int64_t>(outputs, dim >= 0 && outputs > 0 ? dim / outputs : -1);
  }
  if (split && static_cast<int>(split->size()) != outputs) {
    return ShapeError(
        absl::StrCat("input 'split' has ", split->size(), " values for ", outputs, " outputs"));
  }
  int64_t total = 0;
  for (int i = 0; i < outputs; ++i) {
    Shape part = *t.shape;
    part[axis] = split ? (*split)[i] : -1;
    if (split) total += (*split)[i];
    ctx.SetOutput("outputs", t.dtype, std::move(part), i);
  }
  if (split && ctx.HasInput("split") && dim >= 0 && total != dim) {
    return ShapeError(absl::StrCat("input 'split' sums to ", total, "; dim ", axis, " of 'input' ",
                                   DimsString(*t.shape), " is ", dim));
  }
  return absl::OkStatus();
}

// How many elements Slice takes from a dim of `dim` elements (ONNX's clamping rules).
int64_t SliceLength(int64_t dim, int64_t start, int64_t end, int64_t step) {
  auto clamp = [&](int64_t v, int64_t lo, int64_t hi) {
    if (v < 0) v += dim;
    return std::clamp(v, lo, hi);
  };
  if (step > 0) {
    const int64_t s = clamp(start, 0, dim), e = clamp(end, 0, dim);
    return e > s ? (e - s - 1) / step + 1 : 0;
  }
  const int64_t s = clamp(start, 0, dim - 1), e = clamp(end, -1, dim - 1);
  // -step does not fit for the lowest int64; any step that large takes one element.
  const int64_t back =
      step == std::numeric_limits<int64_t>::min() ? std::numeric_limits<int64_t>::max() : -step;
  return s > e ? (s - e - 1) / back + 1 : 0;
}

absl::Status InferSlice(InferContext& ctx) {
  TensorType t = ctx.InputType("data");
  if (!t.shape) {
    ctx.SetOutput("output", std::move(t));
    return absl::OkStatus();
  }
  const int64_t rank = static_cast<int64_t>(t.shape->size());
  std::optional<std::vector<int64_t>> starts = ctx.InputInts("starts");
  std::optional<std::vector<int64_t>> ends = ctx.InputInts("ends");
  std::optional<std::vector<int64_t>> axes = ctx.InputInts("axes");
  std::optional<std::vector<int64_t>> steps = ctx.InputInts("steps");
  const bool axes_known = !ctx.HasInput("axes") || axes.has_value();
  if (!starts || !ends || !axes_known || (ctx.HasInput("steps") && !steps)) {
    // Which dims change is unknown (or by how much): every dim a slice may touch is unknown.
    if (axes) {
      for (int64_t a : *axes) {
        FLEET_ASSIGN_OR_RETURN(int64_t axis, NormalizeAxis(a, rank, "axis"));
        (*t.shape)[axis] = -1;
      }
    } else {
      t.shape = UnknownDims(rank);
    }
    ctx.SetOutput("output", std::move(t));
    return absl::OkStatus();
  }
  const size_t n = starts->size();
  if (!axes) {
    axes.emplace(n);
    for (size_t i = 0; i < n; ++i) (*axes)[i] = static_cast<int64_t>(i);
  }
  if (!steps) steps = std::vector<int64_t>(n, 1);
  if (ends->size() != n || axes->size() != n || steps->size() != n) {
    return ShapeError(absl::StrCat("inputs 'starts', 'ends', 'axes', 'steps' have ", n, ", ",
                                   ends->size(), ", ", axes->size(), ", ", steps->size(),
                                   " values; expected one per sliced axis"));
  }
  for (size_t i = 0; i < n; ++i) {
    FLEET_ASSIGN_OR_RETURN(int64_t axis, NormalizeAxis((*axes)[i], rank, "axis"));
    if ((*steps)[i] == 0) return ShapeError(absl::StrCat("input 'steps' has a 0 for axis ", axis));
    int64_t& d = (*t.shape)[axis];
    if (d >= 0) d = SliceLength(d, (*starts)[i], (*ends)[i], (*steps)[i]);
  }
  ctx.SetOutput("output", std::move(t));
  return absl::OkStatus();
}

absl::Status InferGather(InferContext& ctx) {
  const Shape* data = ctx.InputShape("data");
  const Shape* indices = ctx.InputShape("indices");
  std::optional<Shape> out;
  if (data != nullptr) {
    if (data->empty()) return ShapeError("input 'data' is a scalar; Gather needs rank >= 1");
    FLEET_ASSIGN_OR_RETURN(int64_t axis, NormalizeAxis(ctx.Int("axis", 0), data->size(), "axis"));
    if (indices != nullptr) {
      out.emplace(data->begin(), data->begin() + axis);
      out->insert(out->end(), indices->begin(), indices->end());
      out->insert(out->end(), data->begin() + axis + 1, data->end());
    }
  }
  ctx.SetOutput("output", ctx.InputDtype("data"), std::move(out));
  return absl::OkStatus();
}

absl::Status InferGatherElements(InferContext& ctx) {
  const Shape* data = ctx.InputShape("data");
  const Shape* indices = ctx.InputShape("indices");
  if (data != nullptr && indices != nullptr && data->size() != indices->size()) {
    return ShapeError(absl::StrCat("inputs 'data' ", DimsString(*data), " and 'indices' ",
                                   DimsString(*indices), " must have the same rank"));
  }
  if (data != nullptr) {
    FLEET_RETURN_IF_ERROR(NormalizeAxis(ctx.Int("axis", 0), data->size(), "axis").status());
  }
  ctx.SetOutput("output", ctx.InputDtype("data"),
                indices != nullptr ? std::optional<Shape>(*indices) : std::nullopt);
  return absl::OkStatus();
}

absl::Status InferTopK(InferContext& ctx) {
  TensorType t = ctx.InputType("X");
  if (t.shape) {
    FLEET_ASSIGN_OR_RETURN(int64_t axis,
                           NormalizeAxis(ctx.Int("axis", -1), t.shape->size(), "axis"));
    std::optional<std::vector<int64_t>> k = ctx.InputInts("K");
    (*t.shape)[axis] = k && k->size() == 1 ? (*k)[0] : -1;
  }
  ctx.SetOutput("Indices", DataType::kI64, t.shape);
  ctx.SetOutput("Values", std::move(t));
  return absl::OkStatus();
}

absl::Status InferOneHot(InferContext& ctx) {
  const Shape* indices = ctx.InputShape("indices");
  std::optional<Shape> out;
  if (indices != nullptr) {
    const int64_t rank = static_cast<int64_t>(indices->size()) + 1;
    FLEET_ASSIGN_OR_RETURN(int64_t axis, NormalizeAxis(ctx.Int("axis", -1), rank, "axis"));
    std::optional<std::vector<int64_t>> depth = ctx.InputInts("depth");
    out = *indices;
    out->insert(out->begin() + axis, depth && depth->size() == 1 ? (*depth)[0] : -1);
  }
  ctx.SetOutput("output", ctx.InputDtype("values"), std::move(out));
  return absl::OkStatus();
}

absl::Status InferRange(InferContext& ctx) {
  int64_t n = -1;
  std::optional<std::vector<int64_t>> start = ctx.InputInts("start");
  std::optional<std::vector<int64_t>> limit = ctx.InputInts("limit");
  std::optional<std::vector<int64_t>> delta = ctx.InputInts("delta");
  if (start && limit && delta && start->size() == 1 && limit->size() == 1 && delta->size() == 1 &&
      (*delta)[0] != 0) {
    int64_t span;
    const int64_t d = (*delta)[0];
    if (__builtin_sub_overflow((*limit)[0], (*start)[0], &span)) {
      n = -1;  // beyond int64: unknown
    } else if (span == 0 || (span > 0) != (d > 0)) {
      n = 0;
    } else if (d == -1) {
      n = span == std::numeric_limits<int64_t>::min() ? -1 : -span;
    } else {
      n = span / d + (span % d != 0 ? 1 : 0);  // ceil: the quotient is positive
    }
  }
  ctx.SetOutput("output", ctx.InputDtype("start"), Shape{n});
  return absl::OkStatus();
}

absl::Status InferNonZero(InferContext& ctx) {
  ctx.SetOutput("Y", DataType::kI64, Shape{ctx.InputRank("X"), -1});
  return absl::OkStatus();
}

absl::Status InferCompress(InferContext& ctx) {
  TensorType t = ctx.InputType("input");
  if (!ctx.OpAttr("axis")) {
    t.shape = Shape{-1};
  } else if (t.shape) {
    FLEET_ASSIGN_OR_RETURN(int64_t axis,
                           NormalizeAxis(ctx.Int("axis", 0), t.shape->size(), "axis"));
    (*t.shape)[axis] = -1;
  }
  ctx.SetOutput("output", std::move(t));
  return absl::OkStatus();
}

absl::Status InferEyeLike(InferContext& ctx) {
  TensorType t = ctx.InputType("input");
  if (ctx.OpAttr("dtype")) {
    t.dtype =
        DataTypeFromOnnx(static_cast<int>(ctx.Int("dtype", 0))).value_or(DataType::kUndefined);
  }
  ctx.SetOutput("output", std::move(t));
  return absl::OkStatus();
}

}  // namespace

void AddIndexOpInference(InferTable& table) {
  table.emplace_back("Concat", InferConcat);
  table.emplace_back("Split", InferSplit);
  table.emplace_back("Slice", InferSlice);
  table.emplace_back("Gather", InferGather);
  table.emplace_back("GatherElements", InferGatherElements);
  table.emplace_back("TopK", InferTopK);
  table.emplace_back("OneHot", InferOneHot);
  table.emplace_back("Range", InferRange);
  table.emplace_back("NonZero", InferNonZero);
  table.emplace_back("Compress", InferCompress);
  table.emplace_back("EyeLike", InferEyeLike);
  for (const char* op : {"CumSum", "Trilu", "ScatterElements", "ScatterND"}) {
    table.emplace_back(op, SameAsFirstInput());
  }
}

}  // namespace fleet
