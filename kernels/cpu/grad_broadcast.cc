// Kernels that move gradients across broadcasting and reductions:
//   fleet.reduce_to_like(X, Like) -> Out   sums X over the dims broadcasting stretched, giving
//                                          Like's shape (the gradient of a broadcast input);
//   fleet.expand_like(X, Like, Axes?) -> Out  spreads a reduction's gradient X back over Like's
//                                          shape; axes (input Axes or attribute axes), keepdims and
//                                          noop_with_empty_axes as
//                                          the reduction had them, `mean` 1 divides by the number
//                                          of reduced elements (ReduceMean).
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "kernels/cpu/groups.h"
#include "kernels/cpu/reduce_axes.h"

namespace fleet::cpu {
namespace {

// Strides of `src` (right-aligned against `target`) with 0 where src broadcasts; false when
// src does not broadcast to target.
bool BroadcastStrides(const std::vector<int64_t>& src, const std::vector<int64_t>& target,
                      std::vector<int64_t>* strides) {
  const int rank = static_cast<int>(target.size());
  const int offset = rank - static_cast<int>(src.size());
  if (offset < 0) return false;
  strides->assign(rank, 0);
  int64_t stride = 1;
  for (int d = rank - 1; d >= offset; --d) {
    const int64_t s = src[d - offset];
    if (s == target[d]) {
      (*strides)[d] = s == 1 ? 0 : stride;
    } else if (s != 1) {
      return false;
    }
    stride *= s;
  }
  return true;
}

// Calls fn(i, j) for every index i of `shape` (row-major) with j the matching offset under
// `strides`.
template <typename Fn>
void ForEachIndex(const std::vector<int64_t>& shape, const std::vector<int64_t>& strides, Fn fn) {
  const int rank = static_cast<int>(shape.size());
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  if (n == 0) return;
  std::vector<int64_t> idx(rank, 0);
  int64_t j = 0;
  const int64_t inner = rank == 0 ? 1 : shape[rank - 1];
  const int64_t inner_stride = rank == 0 ? 0 : strides[rank - 1];
  for (int64_t i = 0; i < n; i += inner) {
    for (int64_t k = 0; k < inner; ++k) fn(i + k, j + k * inner_stride);
    for (int d = rank - 2; d >= 0; --d) {
      j += strides[d];
      if (++idx[d] < shape[d]) break;
      j -= strides[d] * shape[d];
      idx[d] = 0;
    }
  }
}

template <typename T>
absl::Status ReduceToLikeTyped(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  const Tensor& like = ctx.input(1);
  std::vector<int64_t> strides;
  if (!BroadcastStrides(like.shape(), x.shape(), &strides)) {
    return ctx.InvalidArgument(absl::StrCat("cannot sum ", x.TypeString(), " down to ",
                                            like.TypeString(), ": the shapes do not broadcast"));
  }
  Tensor* out = ctx.Output(0, x.dtype(), like.shape());
  T* dst = out->data<T>();
  for (int64_t i = 0; i < out->numel(); ++i) dst[i] = T(0);
  const T* src = x.data<T>();
  if (x.shape() == like.shape()) {
    for (int64_t i = 0; i < x.numel(); ++i) dst[i] = src[i];
    return absl::OkStatus();
  }
  ForEachIndex(x.shape(), strides, [&](int64_t i, int64_t j) { dst[j] += src[i]; });
  return absl::OkStatus();
}

template <typename T>
absl::Status ExpandLikeTyped(KernelContext& ctx) {
  const Tensor& dy = ctx.input(0);
  const Tensor& like = ctx.input(1);
  const int rank = like.rank();
  std::vector<int64_t> axes;
  if (ctx.has_input(2)) {
    const Tensor& a = ctx.input(2);
    if (a.dtype() != DataType::kI64) return ctx.InvalidArgument("input 'Axes' must be i64");
    axes.assign(a.data<int64_t>(), a.data<int64_t>() + a.numel());
  } else {
    axes = ctx.GetInts("axes", {});
  }
  std::vector<bool> reduced(rank, true);
  if (!axes.empty()) {
    auto mask = ResolveAxes(ctx, axes, rank);
    if (!mask.ok()) return mask.status();
    reduced = *mask;
  } else if (ctx.GetInt("noop_with_empty_axes", 0) != 0) {
    reduced.assign(rank, false);
  }
  std::vector<int64_t> kept(rank);
  int64_t count = 1;
  for (int d = 0; d < rank; ++d) {
    kept[d] = reduced[d] ? 1 : like.dim(d);
    if (reduced[d]) count *= like.dim(d);
  }
  if (dy.numel() != NumElements(kept)) {
    return ctx.InvalidArgument(absl::StrCat("gradient ", dy.TypeString(), " does not match the ",
                                            "reduction of ", like.TypeString()));
  }
  std::vector<int64_t> strides;
  BroadcastStrides(kept, like.shape(), &strides);
  Tensor* out = ctx.Output(0, dy.dtype(), like.shape());
  const T scale = ctx.GetInt("mean", 0) != 0 && count > 0 ? T(1) / T(count) : T(1);
  const T* src = dy.data<T>();
  T* dst = out->data<T>();
  ForEachIndex(like.shape(), strides, [&](int64_t i, int64_t j) { dst[i] = src[j] * scale; });
  return absl::OkStatus();
}

template <template <typename> class Fn>
absl::Status Dispatch(KernelContext& ctx) {
  if (!ctx.has_input(0) || !ctx.has_input(1)) return ctx.InvalidArgument("needs inputs X and Like");
  switch (ctx.input(0).dtype()) {
    case DataType::kF32: return Fn<float>::Run(ctx);
    case DataType::kF64: return Fn<double>::Run(ctx);
    default: return ctx.Unimplemented(absl::StrCat("dtype ", ctx.input(0).TypeString()));
  }
}

template <typename T>
struct ReduceToLike {
  static absl::Status Run(KernelContext& ctx) { return ReduceToLikeTyped<T>(ctx); }
};
template <typename T>
struct ExpandLike {
  static absl::Status Run(KernelContext& ctx) { return ExpandLikeTyped<T>(ctx); }
};

}  // namespace

void RegisterGradBroadcastKernels(KernelTable& table) {
  const std::vector<DataType> types = {DataType::kF32, DataType::kF64};
  table.Add("fleet.reduce_to_like", Device::kCpu, types, &Dispatch<ReduceToLike>);
  table.Add("fleet.expand_like", Device::kCpu, types, &Dispatch<ExpandLike>);
}

}  // namespace fleet::cpu
