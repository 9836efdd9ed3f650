// Shape inference of the reductions: Reduce* over `axes` (an attribute at opset 17, an input for
// ReduceSum) with keepdims and noop_with_empty_axes, and ArgMax/ArgMin over one axis (i64).
#include <string>
#include <utility>
#include <vector>

#include "ir/shape_infer.h"
#include "ir/status_macros.h"

namespace fleet {
namespace {

// `in` reduced over `axes` (all dims when empty and not `noop_empty`).
absl::StatusOr<Shape> Reduced(const Shape& in, const std::vector<int64_t>& axes, bool keepdims,
                              bool noop_empty) {
  const int64_t rank = static_cast<int64_t>(in.size());
  if (axes.empty() && noop_empty) return in;
  std::vector<bool> reduce(in.size(), axes.empty());
  for (int64_t a : axes) {
    FLEET_ASSIGN_OR_RETURN(int64_t axis, NormalizeAxis(a, rank, "axis"));
    reduce[axis] = true;
  }
  Shape out;
  for (int64_t i = 0; i < rank; ++i) {
    if (!reduce[i]) {
      out.push_back(in[i]);
    } else if (keepdims) {
      out.push_back(1);
    }
  }
  return out;
}

absl::Status InferReduce(InferContext& ctx) {
  TensorType t = ctx.InputType("data");
  const bool keepdims = ctx.Int("keepdims", 1) != 0;
  std::optional<std::vector<int64_t>> axes;
  if (ctx.HasInput("axes")) {
    axes = ctx.InputInts("axes");
  } else if (const std::vector<int64_t>* a = ctx.Ints("axes")) {
    axes = *a;
  } else {
    axes = std::vector<int64_t>{};
  }
  if (t.shape && axes) {
    FLEET_ASSIGN_OR_RETURN(
        t.shape, Reduced(*t.shape, *axes, keepdims, ctx.Int("noop_with_empty_axes", 0) != 0));
  } else if (t.shape && keepdims) {
    t.shape = UnknownDims(t.shape->size());  // which dims become 1 is unknown
  } else {
    t.shape = std::nullopt;
  }
  ctx.SetOutput("reduced", std::move(t));
  return absl::OkStatus();
}

absl::Status InferArgReduce(InferContext& ctx) {
  TensorType t = ctx.InputType("data");
  t.dtype = DataType::kI64;
  if (t.shape) {
    FLEET_ASSIGN_OR_RETURN(
        t.shape, Reduced(*t.shape, {ctx.Int("axis", 0)}, ctx.Int("keepdims", 1) != 0, false));
  }
  ctx.SetOutput("reduced", std::move(t));
  return absl::OkStatus();
}

}  // namespace

void AddReduceInference(InferTable& table) {
  for (const char* op : {"ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp", "ReduceMax",
                         "ReduceMean", "ReduceMin", "ReduceProd", "ReduceSum", "ReduceSumSquare"}) {
    table.emplace_back(op, InferReduce);
  }
  table.emplace_back("ArgMax", InferArgReduce);
  table.emplace_back("ArgMin", InferArgReduce);
}

}  // namespace fleet
