// Axis handling shared by the reduction and normalisation kernels: resolving (possibly negative)
// axes against a rank with messages that name the axis and the rank, and splitting a shape into
// the [outer, reduced, inner] blocks most of these kernels iterate over.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "executor/kernel.h"

namespace fleet::cpu {

// Resolves `axis` in [-rank, rank) to [0, rank). `what` names the attribute in the message.
inline absl::StatusOr<int> ResolveAxis(const KernelContext& ctx, int64_t axis, int rank,
                                       const char* what = "axis") {
  if (axis < -rank || axis >= rank) {
    return ctx.InvalidArgument(absl::StrCat(what, " ", axis, " is out of range for input of rank ",
                                            rank, "; expected ", -rank, " <= ", what, " < ", rank));
  }
  return static_cast<int>(axis < 0 ? axis + rank : axis);
}

// Resolves a list of axes; a repeated axis is an error. Returns a per-dimension mask.
inline absl::StatusOr<std::vector<bool>> ResolveAxes(const KernelContext& ctx,
                                                     const std::vector<int64_t>& axes, int rank,
                                                     const char* what = "axes") {
  std::vector<bool> mask(rank, false);
  for (int64_t a : axes) {
    if (a < -rank || a >= rank) {
      return ctx.InvalidArgument(absl::StrCat(what, " contains ", a,
                                              ", out of range for input of rank ", rank,
                                              "; expected values in [", -rank, ", ", rank, ")"));
    }
    int r = static_cast<int>(a < 0 ? a + rank : a);
    if (mask[r]) {
      return ctx.InvalidArgument(absl::StrCat(what, " names axis ", r, " more than once (", what,
                                              " = [", absl::StrJoin(axes, ","), "])"));
    }
    mask[r] = true;
  }
  return mask;
}

// Products of the dims before `axis`, at `axis`, and after it.
struct AxisSplit {
  int64_t outer = 1;
  int64_t axis = 1;
  int64_t inner = 1;
};
inline AxisSplit SplitAt(const std::vector<int64_t>& shape, int axis) {
  AxisSplit s;
  for (int i = 0; i < static_cast<int>(shape.size()); ++i) {
    if (i < axis)
      s.outer *= shape[i];
    else if (i == axis)
      s.axis = shape[i];
    else
      s.inner *= shape[i];
  }
  return s;
}

// Elements per ParallelFor chunk that make a task worth scheduling.
constexpr int64_t kParallelGrainElements = 32768;

// Grain (in work items) for ParallelFor when each item touches `per_item` elements.
inline int64_t GrainFor(int64_t per_item) {
  return per_item >= kParallelGrainElements
             ? 1
             : kParallelGrainElements / (per_item > 0 ? per_item : 1);
}

}  // namespace fleet::cpu
