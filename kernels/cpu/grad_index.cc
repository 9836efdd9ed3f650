// Gradient kernels of the indexing ops (schemas in ir/fleet_grad_ops_shape.cc):
//   fleet.gather_grad_sparse  Gather on an embedding table (axis 0): sparse rows whose values
//                             are the output gradient viewed [n, row...] (no copy) and whose
//                             rows are the indices (shared when already i64 and non-negative);
//   fleet.gather_grad         dense: zeros like the data, the output gradient added at the
//                             gathered positions along any axis (repeated indices add up);
//   fleet.gather_elements_grad  zeros like the data, the gradient added where GatherElements
//                             read.
// Indices are checked like the forward ops check them: out of range is INVALID_ARGUMENT naming
// the index and the bound.
#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "kernels/cpu/float_dispatch.h"
#include "kernels/cpu/groups.h"
#include "kernels/cpu/shape_util.h"

namespace fleet::cpu {
namespace {

constexpr int64_t kColumnBlock = 512;  // elements of a row one task of gather_grad adds

absl::Status IndexOutOfRange(const KernelContext& ctx, int64_t position, int64_t value,
                             int64_t bound, int axis) {
  return ctx.InvalidArgument(absl::StrCat(
      "index ", value, " at position ", position, " of 'indices' is out of range for axis ", axis,
      " of size ", bound, "; expected [", -bound, ", ", bound - 1, "]"));
}

// The indices (i32 or i64) mapped into [0, dim); `all_plain` says whether they already were.
absl::StatusOr<std::vector<int64_t>> NormalizedIndices(const KernelContext& ctx,
                                                       const Tensor& indices, int64_t dim, int axis,
                                                       bool* all_plain = nullptr) {
  FLEET_ASSIGN_OR_RETURN(std::vector<int64_t> idx, ReadInts(ctx, indices, "indices"));
  bool plain = true;
  for (size_t i = 0; i < idx.size(); ++i) {
    int64_t k = idx[i];
    if (k < -dim || k >= dim) return IndexOutOfRange(ctx, static_cast<int64_t>(i), k, dim, axis);
    if (k < 0) {
      idx[i] = k + dim;
      plain = false;
    }
  }
  if (all_plain != nullptr) *all_plain = plain;
  return idx;
}

absl::Status CheckInputs(const KernelContext& ctx) {
  if (!ctx.has_input(0) || !ctx.has_input(1) || !ctx.has_input(2)) {
    return ctx.InvalidArgument("needs inputs OutGrad, Indices and Like");
  }
  if (ctx.input(2).rank() == 0) return ctx.InvalidArgument("Like is a scalar; expected rank >= 1");
  return absl::OkStatus();
}

// Gather's output shape for data of `data_shape`.
std::vector<int64_t> GatherShape(const std::vector<int64_t>& data_shape,
                                 const std::vector<int64_t>& indices_shape, int axis) {
  std::vector<int64_t> shape(data_shape.begin(), data_shape.begin() + axis);
  shape.insert(shape.end(), indices_shape.begin(), indices_shape.end());
  shape.insert(shape.end(), data_shape.begin() + axis + 1, data_shape.end());
  return shape;
}

absl::Status GatherGradSparseKernel(KernelContext& ctx) {
  FLEET_RETURN_IF_ERROR(CheckInputs(ctx));
  const Tensor& dy = ctx.input(0);
  const Tensor& indices = ctx.input(1);
  const Tensor& like = ctx.input(2);
  FLEET_ASSIGN_OR_RETURN(int axis, NormalizeAxis(ctx, ctx.GetInt("axis", 0), like.rank()));
  if (axis != 0) {
    return ctx.InvalidArgument(absl::StrCat("axis ", axis, "; sparse rows need axis 0 (use ",
                                            "fleet.gather_grad for other axes)"));
  }
  if (dy.shape() != GatherShape(like.shape(), indices.shape(), 0)) {
    return ctx.InvalidArgument(absl::StrCat("gradient ", dy.TypeString(), " does not match ",
                                            "Gather of ", like.TypeString(), " by ",
                                            indices.TypeString()));
  }
  const int64_t n = indices.numel();
  bool plain = false;
  FLEET_ASSIGN_OR_RETURN(std::vector<int64_t> idx,
                         NormalizedIndices(ctx, indices, like.dim(0), 0, &plain));
  Tensor rows;
  if (plain && indices.dtype() == DataType::kI64) {
    rows = indices.Reshaped({n});
  } else {
    rows = Tensor(DataType::kI64, {n});
    if (n > 0) std::memcpy(rows.data<int64_t>(), idx.data(), n * sizeof(int64_t));
  }
  std::vector<int64_t> values_shape = like.shape();
  values_shape[0] = n;
  ctx.SetOutput(
      0, Tensor::SparseRows(dy.Reshaped(std::move(values_shape)), std::move(rows), like.dim(0)));
  return absl::OkStatus();
}

template <typename T>
absl::Status GatherGradTyped(KernelContext& ctx) {
  const Tensor& dy = ctx.input(0);
  const Tensor& indices = ctx.input(1);
  const Tensor& like = ctx.input(2);
  FLEET_ASSIGN_OR_RETURN(int axis, NormalizeAxis(ctx, ctx.GetInt("axis", 0), like.rank()));
  if (dy.shape() != GatherShape(like.shape(), indices.shape(), axis)) {
    return ctx.InvalidArgument(absl::StrCat("gradient ", dy.TypeString(), " does not match ",
                                            "Gather of ", like.TypeString(), " by ",
                                            indices.TypeString(), " on axis ", axis));
  }
  const int64_t dim = like.dim(axis);
  FLEET_ASSIGN_OR_RETURN(std::vector<int64_t> idx, NormalizedIndices(ctx, indices, dim, axis));
  Tensor* dx = ctx.Output(0, dy.dtype(), like.shape());
  T* dst = dx->data<T>();
  std::fill(dst, dst + dx->numel(), T(0));
  const int64_t outer =
      NumElements(std::vector<int64_t>(like.shape().begin(), like.shape().begin() + axis));
  const int64_t row = dim == 0 || outer == 0 ? 0 : like.numel() / (outer * dim);
  const int64_t n = static_cast<int64_t>(idx.size());
  if (dy.numel() == 0) return absl::OkStatus();
  // Tasks own (outer item, column block) pairs, so no two tasks add into one element, however
  // often an index repeats.
  const int64_t blocks = (row + kColumnBlock - 1) / kColumnBlock;
  const T* src = dy.data<T>();
  const int64_t work = n * std::min(row, kColumnBlock);
  ctx.ParallelFor(outer * blocks, std::max<int64_t>(1, 32768 / std::max<int64_t>(work, 1)),
                  [&](int64_t b, int64_t e) {
                    for (int64_t task = b; task < e; ++task) {
                      const int64_t o = task / blocks;
                      const int64_t c0 = (task % blocks) * kColumnBlock;
                      const int64_t w = std::min(kColumnBlock, row - c0);
                      const T* in = src + o * n * row + c0;
                      T* out = dst + o * dim * row + c0;
                      for (int64_t i = 0; i < n; ++i) {
                        T* __restrict to = out + idx[i] * row;
                        const T* __restrict from = in + i * row;
                        for (int64_t k = 0; k < w; ++k) to[k] += from[k];
                      }
                    }
                  });
  return absl::OkStatus();
}

template <typename T>
absl::Status GatherElementsGradTyped(KernelContext& ctx) {
  const Tensor& dy = ctx.input(0);
  const Tensor& indices = ctx.input(1);
  const Tensor& like = ctx.input(2);
  FLEET_ASSIGN_OR_RETURN(int axis, NormalizeAxis(ctx, ctx.GetInt("axis", 0), like.rank()));
  bool ok = indices.rank() == like.rank() && dy.shape() == indices.shape();
  for (int d = 0; ok && d < like.rank(); ++d) ok = d == axis || indices.dim(d) <= like.dim(d);
  if (!ok) {
    return ctx.InvalidArgument(absl::StrCat("gradient ", dy.TypeString(), " and indices ",
                                            indices.TypeString(), " do not fit GatherElements of ",
                                            like.TypeString(), " on axis ", axis));
  }
  const int64_t dim = like.dim(axis);
  FLEET_ASSIGN_OR_RETURN(std::vector<int64_t> idx, NormalizedIndices(ctx, indices, dim, axis));
  Tensor* dx = ctx.Output(0, dy.dtype(), like.shape());
  T* dst = dx->data<T>();
  std::fill(dst, dst + dx->numel(), T(0));
  const std::vector<int64_t> strides = DenseStrides(like.shape());
  const T* src = dy.data<T>();
  return ForEachElement(indices.shape(), strides, axis, [&](int64_t e, int64_t offset) {
    dst[offset + idx[e] * strides[axis]] += src[e];
    return absl::OkStatus();
  });
}

template <template <typename> class Fn>
absl::Status DispatchFloat(KernelContext& ctx) {
  FLEET_RETURN_IF_ERROR(CheckInputs(ctx));
  return RunForFloatType<Fn>(ctx);
}

template <typename T>
struct GatherGrad {
  static absl::Status Run(KernelContext& ctx) { return GatherGradTyped<T>(ctx); }
};
template <typename T>
struct GatherElementsGrad {
  static absl::Status Run(KernelContext& ctx) { return GatherElementsGradTyped<T>(ctx); }
};

}  // namespace

void RegisterIndexGradKernels(KernelTable& table) {
  const std::vector<DataType> types = {DataType::kF32, DataType::kF64};
  table.Add("fleet.gather_grad_sparse", Device::kCpu, types, &GatherGradSparseKernel);
  // The sparse rows' values are a view of dY, their ids may be a view of Indices.
  table.SetTraits("fleet.gather_grad_sparse", Device::kCpu,
                  KernelTraits::Aliases({{0, 0}, {1, 0}}));
  table.Add("fleet.gather_grad", Device::kCpu, types, &DispatchFloat<GatherGrad>);
  table.Add("fleet.gather_elements_grad", Device::kCpu, types, &DispatchFloat<GatherElementsGrad>);
}

}  // namespace fleet::cpu
