// Shape inference of the ops that reshape data without computing: Reshape (a constant `shape`,
// with 0 = copy and -1 = infer), Flatten, Transpose, Squeeze/Unsqueeze (constant axes), Expand,
// Tile and Pad (constant shape / repeats / pads), Shape, Size, ConstantOfShape and the
// depth/space rearrangements. An input that decides the shape but is not a constant gives the
// rank where it can be told, with unknown dims.
#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "ir/shape_infer.h"
#include "ir/status_macros.h"

namespace fleet {
namespace {

// The length of a 1-D input whose shape is known, or -1 (how many values a non-constant shape,
// axes or pads input holds).
int64_t VectorLength(const InferContext& ctx, const char* slot) {
  const Shape* s = ctx.InputShape(slot);
  return s != nullptr && s->size() == 1 ? (*s)[0] : -1;
}

absl::Status InferReshape(InferContext& ctx) {
  const DataType dtype = ctx.InputDtype("data");
  const Shape* in = ctx.InputShape("data");
  std::optional<std::vector<int64_t>> target = ctx.InputInts("shape");
  if (!target) {
    const int64_t n = VectorLength(ctx, "shape");
    ctx.SetOutput("reshaped", dtype, n >= 0 ? std::optional<Shape>(UnknownDims(n)) : std::nullopt);
    return absl::OkStatus();
  }
  const bool allow_zero = ctx.Int("allowzero", 0) != 0;
  Shape out = *target;
  int infer_at = -1;
  for (size_t i = 0; i < out.size(); ++i) {
    if (out[i] == 0 && !allow_zero) {
      if (in != nullptr && i >= in->size()) {
        return ShapeError(absl::StrCat("input 'shape' [", absl::StrJoin(*target, ","),
                                       "] copies dim ", i, " of 'data' ", DimsString(*in),
                                       ", which has rank ", in->size()));
      }
      out[i] = in != nullptr ? (*in)[i] : -1;
    } else if (out[i] == -1) {
      if (infer_at >= 0) {
        return ShapeError(
            absl::StrCat("input 'shape' [", absl::StrJoin(*target, ","), "] has more than one -1"));
      }
      infer_at = static_cast<int>(i);
    } else if (out[i] < 0) {
      return ShapeError(absl::StrCat("input 'shape' [", absl::StrJoin(*target, ","),
                                     "] has the negative dim ", out[i]));
    }
  }
  const int64_t in_count = in != nullptr ? KnownProduct(*in) : -1;
  if (infer_at >= 0) {
    Shape others = out;
    others.erase(others.begin() + infer_at);
    const int64_t rest = KnownProduct(others);
    if (in_count >= 0 && rest > 0 && in_count % rest != 0) {
      return ShapeError(absl::StrCat("input 'data' ", DimsString(*in), " (", in_count,
                                     " elements) cannot be reshaped to [",
                                     absl::StrJoin(*target, ","), "]"));
    }
    out[infer_at] = in_count >= 0 && rest > 0 ? in_count / rest : -1;
  } else {
    const int64_t out_count = KnownProduct(out);
    if (in_count >= 0 && out_count >= 0 && in_count != out_count) {
      return ShapeError(absl::StrCat("input 'data' ", DimsString(*in), " (", in_count,
                                     " elements) cannot be reshaped to ", DimsString(out), " (",
                                     out_count, " elements)"));
    }
  }
  ctx.SetOutput("reshaped", dtype, std::move(out));
  return absl::OkStatus();
}

absl::Status InferFlatten(InferContext& ctx) {
  TensorType t = ctx.InputType("input");
  if (t.shape) {
    const int64_t rank = static_cast<int64_t>(t.shape->size());
    int64_t axis = ctx.Int("axis", 1);
    if (axis < -rank || axis > rank) {
      return ShapeError(absl::StrCat("axis ", axis, " is out of range for rank ", rank,
                                     " (expected [", -rank, ", ", rank, "])"));
    }
    if (axis < 0) axis += rank;
    const Shape& s = *t.shape;
    t.shape = Shape{KnownProduct(Shape(s.begin(), s.begin() + axis)),
                    KnownProduct(Shape(s.begin() + axis, s.end()))};
  } else {
    t.shape = UnknownDims(2);
  }
  ctx.SetOutput("output", std::move(t));
  return absl::OkStatus();
}

absl::Status InferTranspose(InferContext& ctx) {
  TensorType t = ctx.InputType("data");
  const std::vector<int64_t>* perm = ctx.Ints("perm");
  if (!t.shape) {
    if (perm != nullptr && !perm->empty()) t.shape = UnknownDims(perm->size());
    ctx.SetOutput("transposed", std::move(t));
    return absl::OkStatus();
  }
  const Shape in = *t.shape;
  const size_t rank = in.size();
  std::vector<int64_t> order(rank);
  if (perm == nullptr || perm->empty()) {
    for (size_t i = 0; i < rank; ++i) order[i] = static_cast<int64_t>(rank - 1 - i);
  } else {
    order = *perm;
    std::vector<bool> seen(rank, false);
    bool ok = order.size() == rank;
    for (size_t i = 0; ok && i < rank; ++i) {
      ok = order[i] >= 0 && order[i] < static_cast<int64_t>(rank) && !seen[order[i]];
      if (ok) seen[order[i]] = true;
    }
    if (!ok) {
      return ShapeError(absl::StrCat("attribute 'perm' [", absl::StrJoin(order, ","),
                                     "] is not a permutation of the ", rank, " dims of 'data' ",
                                     DimsString(in)));
    }
  }
  for (size_t i = 0; i < rank; ++i) (*t.shape)[i] = in[order[i]];
  ctx.SetOutput("transposed", std::move(t));
  return absl::OkStatus();
}

// Squeeze's or Unsqueeze's axes: the constant input, the attribute (older forms), or nullopt.
std::optional<std::vector<int64_t>> AxesOf(const InferContext& ctx) {
  if (ctx.HasInput("axes")) return ctx.InputInts("axes");
  if (const std::vector<int64_t>* a = ctx.Ints("axes")) return *a;
  return std::vector<int64_t>{};
}

absl::Status InferSqueeze(InferContext& ctx) {
  TensorType t = ctx.InputType("data");
  std::optional<std::vector<int64_t>> axes = AxesOf(ctx);
  if (!t.shape || !axes) {
    t.shape = std::nullopt;
    ctx.SetOutput("squeezed", std::move(t));
    return absl::OkStatus();
  }
  const Shape in = *t.shape;
  const int64_t rank = static_cast<int64_t>(in.size());
  std::vector<bool> drop(in.size(), false);
  if (axes->empty()) {
    for (int64_t i = 0; i < rank; ++i) {
      if (in[i] < 0) {  // may or may not be 1: the result's rank is unknown
        t.shape = std::nullopt;
        ctx.SetOutput("squeezed", std::move(t));
        return absl::OkStatus();
      }
      drop[i] = in[i] == 1;
    }
  }
  for (int64_t a : *axes) {
    FLEET_ASSIGN_OR_RETURN(int64_t axis, NormalizeAxis(a, rank, "axis"));
    if (in[axis] >= 0 && in[axis] != 1) {
      return ShapeError(absl::StrCat("cannot squeeze dim ", axis, " of 'data' ", DimsString(in),
                                     ": it is ", in[axis], ", not 1"));
    }
    drop[axis] = true;
  }
  t.shape->clear();
  for (int64_t i = 0; i < rank; ++i) {
    if (!drop[i]) t.shape->push_back(in[i]);
  }
  ctx.SetOutput("squeezed", std::move(t));
  return absl::OkStatus();
}

absl::Status InferUnsqueeze(InferContext& ctx) {
  TensorType t = ctx.InputType("data");
  std::optional<std::vector<int64_t>> axes = AxesOf(ctx);
  if (!t.shape) {
    ctx.SetOutput("expanded", std::move(t));
    return absl::OkStatus();
  }
  if (!axes) {
    const int64_t n = VectorLength(ctx, "axes");
    t.shape = n >= 0 ? std::optional<Shape>(UnknownDims(t.shape->size() + n)) : std::nullopt;
    ctx.SetOutput("expanded", std::move(t));
    return absl::OkStatus();
  }
  const int64_t rank = static_cast<int64_t>(t.shape->size() + axes->size());
  std::vector<bool> inserted(rank, false);
  for (int64_t a : *axes) {
    FLEET_ASSIGN_OR_RETURN(int64_t axis, NormalizeAxis(a, rank, "axis"));
    if (inserted[axis]) return ShapeError(absl::StrCat("axis ", a, " is repeated in 'axes'"));
    inserted[axis] = true;
  }
  Shape out;
  size_t next = 0;
  for (int64_t i = 0; i < rank; ++i) out.push_back(inserted[i] ? 1 : (*t.shape)[next++]);
  t.shape = std::move(out);
  ctx.SetOutput("expanded", std::move(t));
  return absl::OkStatus();
}

absl::Status InferExpand(InferContext& ctx) {
  std::optional<std::vector<int64_t>> target = ctx.InputInts("shape");
  std::optional<Shape> to;
  if (target) {
    to = *target;
  } else if (const int64_t n = VectorLength(ctx, "shape"); n >= 0) {
    to = UnknownDims(n);
  }
  FLEET_ASSIGN_OR_RETURN(std::optional<Shape> out,
                         Broadcast(ctx.InputShape("input"), to ? &*to : nullptr, "input", "shape"));
  ctx.SetOutput("output", ctx.InputDtype("input"), std::move(out));
  return absl::OkStatus();
}

// Tile (repeats) and Pad (pads): each dim grows by a constant the input names.
InferFn GrowEachDim(const char* data, const char* by, bool pads) {
  return [=](InferContext& ctx) -> absl::Status {
    TensorType t = ctx.InputType(data);
    if (!t.shape) {
      ctx.SetOutput("output", std::move(t));
      return absl::OkStatus();
    }
    const size_t rank = t.shape->size();
    std::optional<std::vector<int64_t>> v = ctx.InputInts(by);
    if (!v) {
      t.shape = UnknownDims(rank);
      ctx.SetOutput("output", std::move(t));
      return absl::OkStatus();
    }
    if (v->size() != (pads ? 2 * rank : rank)) {
      return ShapeError(absl::StrCat("input '", by, "' has ", v->size(), " values; expected ",
                                     pads ? 2 * rank : rank, " for '", data, "' ",
                                     DimsString(*t.shape)));
    }
    for (size_t i = 0; i < rank; ++i) {
      int64_t& d = (*t.shape)[i];
      if (d < 0) continue;
      std::optional<int64_t> grown = pads ? CheckedAdd(d, (*v)[i]) : CheckedMul(d, (*v)[i]);
      if (pads && grown) grown = CheckedAdd(*grown, (*v)[i + rank]);
      d = grown.value_or(-1);
      if (!grown) continue;
      if (d < 0) {
        return ShapeError(absl::StrCat("input '", by, "' [", absl::StrJoin(*v, ","),
                                       "] leaves dim ", i, " of '", data, "' negative"));
      }
    }
    ctx.SetOutput("output", std::move(t));
    return absl::OkStatus();
  };
}

absl::Status InferShape(InferContext& ctx) {
  const int64_t rank = ctx.InputRank("data");
  int64_t n = -1;
  if (rank >= 0) {
    auto clamp = [&](int64_t v) { return std::clamp(v < 0 ? v + rank : v, int64_t{0}, rank); };
    n = std::max<int64_t>(0, clamp(ctx.Int("end", rank)) - clamp(ctx.Int("start", 0)));
  }
  ctx.SetOutput("shape", DataType::kI64, Shape{n});
  return absl::OkStatus();
}

absl::Status InferConstantOfShape(InferContext& ctx) {
  DataType dtype = DataType::kF32;
  if (const AttrValue* v = ctx.OpAttr("value")) {
    if (const TensorValue* t = std::get_if<TensorValue>(v)) dtype = t->dtype;
  }
  std::optional<Shape> shape;
  if (std::optional<std::vector<int64_t>> dims = ctx.InputInts("input")) {
    shape = *dims;
  } else if (const int64_t n = VectorLength(ctx, "input"); n >= 0) {
    shape = UnknownDims(n);
  }
  ctx.SetOutput("output", dtype, std::move(shape));
  return absl::OkStatus();
}

// DepthToSpace ([N, C, H, W] -> [N, C/b², H·b, W·b]) and SpaceToDepth (the inverse).
InferFn DepthSpace(bool to_space) {
  return [=](InferContext& ctx) -> absl::Status {
    TensorType t = ctx.InputType("input");
    const int64_t b = ctx.Int("blocksize", 0);
    if (t.shape) {
      Shape& s = *t.shape;
      if (s.size() != 4 || b <= 0) {
        return ShapeError(absl::StrCat("input 'input' ", DimsString(s), " must be [N, C, H, W]",
                                       " with blocksize >= 1 (blocksize ", b, ")"));
      }
      // The dims divided by the block must divide evenly.
      const std::vector<size_t> divided =
          to_space ? std::vector<size_t>{1} : std::vector<size_t>{2, 3};
      for (size_t i : divided) {
        const int64_t by = to_space ? b * b : b;
        if (s[i] >= 0 && s[i] % by != 0) {
          return ShapeError(absl::StrCat("input 'input' ", DimsString(s), ": dim ", i, " is not ",
                                         "divisible by ", by, " (blocksize ", b, ")"));
        }
      }
      auto mul = [](int64_t d, int64_t f) { return d < 0 ? d : d * f; };
      auto div = [](int64_t d, int64_t f) { return d < 0 ? d : d / f; };
      s[1] = to_space ? div(s[1], b * b) : mul(s[1], b * b);
      for (size_t i : {2, 3}) s[i] = to_space ? mul(s[i], b) : div(s[i], b);
    }
    ctx.SetOutput("output", std::move(t));
    return absl::OkStatus();
  };
}

}  // namespace

void AddShapeOpInference(InferTable& table) {
  table.emplace_back("Reshape", InferReshape);
  table.emplace_back("Flatten", InferFlatten);
  table.emplace_back("Transpose", InferTranspose);
  table.emplace_back("Squeeze", InferSqueeze);
  table.emplace_back("Unsqueeze", InferUnsqueeze);
  table.emplace_back("Expand", InferExpand);
  table.emplace_back("Tile", GrowEachDim("input", "repeats", false));
  table.emplace_back("Pad", GrowEachDim("data", "pads", true));
  table.emplace_back("Shape", InferShape);
  table.emplace_back("Size", [](InferContext& ctx) {
    ctx.SetOutput("size", DataType::kI64, Shape{});
    return absl::OkStatus();
  });
  table.emplace_back("ConstantOfShape", InferConstantOfShape);
  table.emplace_back("DepthToSpace", DepthSpace(true));
  table.emplace_back("SpaceToDepth", DepthSpace(false));
}

}  // namespace fleet
