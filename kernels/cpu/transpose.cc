// Data-moving shape kernels that are one strided copy each: Transpose, Expand, Tile,
// DepthToSpace and SpaceToDepth. They work on bytes, so one kernel serves every dtype; the
// strided copy (shape_util.cc) supplies the fast paths (row memcpy, blocked 2-D transpose).
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "kernels/cpu/shape_util.h"

namespace fleet::cpu {
namespace {

// Writes the transpose of `x` viewed as `view_shape` (same element count) by `perm` into out.
void PermutedCopy(const KernelContext& ctx, const Tensor& x, const std::vector<int64_t>& view_shape,
                  const std::vector<int>& perm, Tensor* out) {
  const std::vector<int64_t> dense = DenseStrides(view_shape);
  std::vector<int64_t> shape(perm.size()), strides(perm.size());
  for (size_t i = 0; i < perm.size(); ++i) {
    shape[i] = view_shape[perm[i]];
    strides[i] = dense[perm[i]];
  }
  StridedCopy(ctx, x.raw_data(), shape, strides, out->raw_data(), DataTypeSize(x.dtype()));
}

absl::Status TransposeKernel(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  const int rank = x.rank();
  std::vector<int64_t> perm64 = ctx.GetInts("perm", {});
  if (!ctx.HasAttr("perm")) {
    for (int d = rank - 1; d >= 0; --d) perm64.push_back(d);
  }
  if (static_cast<int>(perm64.size()) != rank) {
    return ctx.InvalidArgument(absl::StrCat("perm [", absl::StrJoin(perm64, ","), "] has ",
                                            perm64.size(), " entries; expected ", rank,
                                            " for input ", x.TypeString()));
  }
  std::vector<int> perm(rank);
  std::vector<bool> seen(rank, false);
  bool identity = true;
  for (int i = 0; i < rank; ++i) {
    int64_t p = perm64[i] < 0 ? perm64[i] + rank : perm64[i];
    if (p < 0 || p >= rank || seen[p]) {
      return ctx.InvalidArgument(absl::StrCat("perm [", absl::StrJoin(perm64, ","),
                                              "] is not a permutation of 0..", rank - 1));
    }
    seen[p] = true;
    perm[i] = static_cast<int>(p);
    identity = identity && p == i;
  }
  if (identity) {
    ctx.SetOutput(0, x);
    return absl::OkStatus();
  }
  std::vector<int64_t> shape(rank);
  for (int i = 0; i < rank; ++i) shape[i] = x.dim(perm[i]);
  Tensor* out = ctx.Output(0, x.dtype(), shape);
  PermutedCopy(ctx, x, x.shape(), perm, out);
  return absl::OkStatus();
}

absl::Status ExpandKernel(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  FLEET_ASSIGN_OR_RETURN(std::vector<int64_t> target, ReadInts(ctx, ctx.input(1), "shape"));
  const int rank = std::max(x.rank(), static_cast<int>(target.size()));
  std::vector<int64_t> shape(rank), strides(rank, 0);
  const std::vector<int64_t> dense = DenseStrides(x.shape());
  for (int d = 0; d < rank; ++d) {
    const int xd = d - (rank - x.rank());
    const int td = d - (rank - static_cast<int>(target.size()));
    const int64_t a = xd >= 0 ? x.dim(xd) : 1;
    const int64_t b = td >= 0 ? target[td] : 1;
    if (a != b && a != 1 && b != 1) {
      return ctx.InvalidArgument(absl::StrCat("cannot expand input ", x.TypeString(), " to shape ",
                                              ShapeString(target), ": dim ", a, " vs ", b,
                                              " at output axis ", d, "; expected equal dims or 1"));
    }
    shape[d] = a == 1 ? b : a;
    strides[d] = (xd >= 0 && a != 1) ? dense[xd] : 0;
  }
  FLEET_RETURN_IF_ERROR(ctx.CheckOutputSize(shape, x.dtype()));
  Tensor* out = ctx.Output(0, x.dtype(), shape);
  StridedCopy(ctx, x.raw_data(), shape, strides, out->raw_data(), DataTypeSize(x.dtype()));
  return absl::OkStatus();
}

absl::Status TileKernel(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  FLEET_ASSIGN_OR_RETURN(std::vector<int64_t> repeats, ReadInts(ctx, ctx.input(1), "repeats"));
  if (static_cast<int>(repeats.size()) != x.rank()) {
    return ctx.InvalidArgument(absl::StrCat("repeats ", ShapeString(repeats), " has ",
                                            repeats.size(), " entries; expected ", x.rank(),
                                            " (the rank of input ", x.TypeString(), ")"));
  }
  const std::vector<int64_t> dense = DenseStrides(x.shape());
  // Output axis d is (repeat, element) row-major, so view it as two dims [r_d, n_d].
  std::vector<int64_t> out_shape, view_shape, view_strides;
  for (int d = 0; d < x.rank(); ++d) {
    if (repeats[d] < 0) {
      return ctx.InvalidArgument(
          absl::StrCat("repeats ", ShapeString(repeats), " has a negative entry; expected >= 0"));
    }
    out_shape.push_back(x.dim(d) * repeats[d]);
    view_shape.insert(view_shape.end(), {repeats[d], x.dim(d)});
    view_strides.insert(view_strides.end(), {0, dense[d]});
  }
  FLEET_RETURN_IF_ERROR(ctx.CheckOutputSize(view_shape, x.dtype()));  // same count, no overflow
  Tensor* out = ctx.Output(0, x.dtype(), out_shape);
  StridedCopy(ctx, x.raw_data(), view_shape, view_strides, out->raw_data(),
              DataTypeSize(x.dtype()));
  return absl::OkStatus();
}

absl::Status DepthToSpaceKernel(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  const int64_t b = ctx.GetInt("blocksize", 0);
  const std::string mode = ctx.GetString("mode", "DCR");
  if (x.rank() != 4 || b <= 0 || x.dim(1) % (b * b) != 0) {
    return ctx.InvalidArgument(absl::StrCat("input ", x.TypeString(), " with blocksize ", b,
                                            ": expected rank 4 with channels divisible by ",
                                            "blocksize^2 and blocksize > 0"));
  }
  if (mode != "DCR" && mode != "CRD") {
    return ctx.InvalidArgument(absl::StrCat("mode '", mode, "'; expected DCR or CRD"));
  }
  const int64_t n = x.dim(0), c = x.dim(1) / (b * b), h = x.dim(2), w = x.dim(3);
  Tensor* out = ctx.Output(0, x.dtype(), {n, c, h * b, w * b});
  if (mode == "DCR") {
    PermutedCopy(ctx, x, {n, b, b, c, h, w}, {0, 3, 4, 1, 5, 2}, out);
  } else {
    PermutedCopy(ctx, x, {n, c, b, b, h, w}, {0, 1, 4, 2, 5, 3}, out);
  }
  return absl::OkStatus();
}

absl::Status SpaceToDepthKernel(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  const int64_t b = ctx.GetInt("blocksize", 0);
  if (x.rank() != 4 || b <= 0 || x.dim(2) % b != 0 || x.dim(3) % b != 0) {
    return ctx.InvalidArgument(absl::StrCat("input ", x.TypeString(), " with blocksize ", b,
                                            ": expected rank 4 with height and width ",
                                            "divisible by blocksize > 0"));
  }
  const int64_t n = x.dim(0), c = x.dim(1), h = x.dim(2) / b, w = x.dim(3) / b;
  Tensor* out = ctx.Output(0, x.dtype(), {n, c * b * b, h, w});
  PermutedCopy(ctx, x, {n, c, h, b, w, b}, {0, 3, 5, 1, 2, 4}, out);
  return absl::OkStatus();
}

}  // namespace

void RegisterTransposeKernels(KernelTable& table) {
  table.AddAnyType("Transpose", Device::kCpu, &TransposeKernel, 0);
  table.SetTraits("Transpose", Device::kCpu, KernelTraits::Aliases({{0, 0}}));  // identity perm
  table.AddAnyType("Expand", Device::kCpu, &ExpandKernel, 0);
  table.AddAnyType("Tile", Device::kCpu, &TileKernel, 0);
  table.AddAnyType("DepthToSpace", Device::kCpu, &DepthToSpaceKernel, 0);
  table.AddAnyType("SpaceToDepth", Device::kCpu, &SpaceToDepthKernel, 0);
}

}  // namespace fleet::cpu
