// Broadcast shape computation and iteration plans (see broadcast.h).
#include "kernels/cpu/broadcast.h"

#include <string>

#include "absl/strings/str_cat.h"

namespace fleet::cpu {

absl::StatusOr<std::vector<int64_t>> BroadcastShape(const std::vector<int64_t>& a,
                                                    const std::vector<int64_t>& b) {
  const size_t rank = std::max(a.size(), b.size());
  std::vector<int64_t> out(rank);
  for (size_t i = 0; i < rank; ++i) {
    // i counts from the right; a missing leading dim behaves as 1.
    int64_t da = i < a.size() ? a[a.size() - 1 - i] : 1;
    int64_t db = i < b.size() ? b[b.size() - 1 - i] : 1;
    int64_t d;
    if (da == db || db == 1) {
      d = da;
    } else if (da == 1) {
      d = db;
    } else {
      return absl::InvalidArgumentError(absl::StrCat(
          "shapes ", ShapeString(a), " and ", ShapeString(b), " cannot be broadcast: axis -", i + 1,
          " has ", da, " vs ", db, " (each pair of dims must be equal or one of them 1)"));
    }
    out[rank - 1 - i] = d;
  }
  if (CheckedNumBytes(DataType::kF64, out) < 0) {
    return absl::InvalidArgumentError(absl::StrCat("shapes ", ShapeString(a), " and ",
                                                   ShapeString(b), " broadcast to ",
                                                   ShapeString(out), ", which is too large"));
  }
  return out;
}

absl::StatusOr<BroadcastPlan> MakeBroadcastPlan(const std::vector<std::vector<int64_t>>& shapes) {
  const int n = static_cast<int>(shapes.size());
  if (n < 1 || n > BroadcastPlan::kMaxInputs) {
    return absl::InternalError(absl::StrCat("MakeBroadcastPlan: ", n, " inputs; expected 1 to ",
                                            BroadcastPlan::kMaxInputs));
  }
  BroadcastPlan plan;
  plan.num_inputs = n;
  plan.out_shape = shapes[0];
  for (int k = 1; k < n; ++k) {
    auto shape = BroadcastShape(plan.out_shape, shapes[k]);
    if (!shape.ok()) {
      if (k == 1) return shape.status();
      // Name the input that failed, since the left shape is already a combination.
      return absl::InvalidArgumentError(absl::StrCat("input ", k, ": ", shape.status().message()));
    }
    plan.out_shape = *std::move(shape);
  }
  plan.numel = NumElements(plan.out_shape);
  const int rank = static_cast<int>(plan.out_shape.size());

  // Per input: strides aligned to the output's dims, 0 where the input is broadcast.
  std::vector<std::vector<int64_t>> strides(n, std::vector<int64_t>(rank, 0));
  for (int k = 0; k < n; ++k) {
    const auto& s = shapes[k];
    const int offset = rank - static_cast<int>(s.size());
    int64_t stride = 1;
    for (int d = static_cast<int>(s.size()) - 1; d >= 0; --d) {
      strides[k][d + offset] = s[d] == 1 ? 0 : stride;
      stride *= s[d];
    }
  }

  // Drop dims of size 1 and merge dim d into the one before it when every input continues
  // contiguously across the boundary (broadcast in both counts: 0 == 0 * size).
  std::vector<int64_t> dims;
  std::vector<std::vector<int64_t>> merged(n);
  for (int d = 0; d < rank; ++d) {
    const int64_t size = plan.out_shape[d];
    if (size == 1) continue;
    bool can_merge = !dims.empty();
    for (int k = 0; k < n && can_merge; ++k) {
      can_merge = merged[k].back() == strides[k][d] * size;
    }
    if (can_merge) {
      dims.back() *= size;
      for (int k = 0; k < n; ++k) merged[k].back() = strides[k][d];
    } else {
      dims.push_back(size);
      for (int k = 0; k < n; ++k) merged[k].push_back(strides[k][d]);
    }
  }
  if (dims.empty()) {  // a scalar (or all-ones) output
    dims.push_back(1);
    for (int k = 0; k < n; ++k) merged[k].push_back(0);
  }
  plan.inner = dims.back();
  dims.pop_back();
  plan.outer_dims = std::move(dims);
  for (int k = 0; k < n; ++k) {
    plan.inner_stride[k] = merged[k].back();
    merged[k].pop_back();
    plan.outer_strides[k] = std::move(merged[k]);
  }
  return plan;
}

absl::StatusOr<BroadcastPlan> PlanBroadcast(const KernelContext& ctx,
                                            std::initializer_list<const Tensor*> inputs) {
  std::vector<std::vector<int64_t>> shapes;
  shapes.reserve(inputs.size());
  for (const Tensor* t : inputs) shapes.push_back(t->shape());
  auto plan = MakeBroadcastPlan(shapes);
  if (!plan.ok()) return ctx.InvalidArgument(std::string(plan.status().message()));
  return plan;
}

}  // namespace fleet::cpu
