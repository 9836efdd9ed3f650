// ReduceSum and ReduceMean on the GPU (f32), and fleet.expand_like, their gradient: the axes,
// keepdims and noop_with_empty_axes handling and the messages of kernels/cpu/reduce.cc and
// grad_broadcast.cc. An `axes` input is read on the host (declared a host input). The sum runs
// one thread per output (launch.h LaunchReduceTo); the mean scales it.
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "ir/status_macros.h"
#include "kernels/cpu/reduce_axes.h"
#include "kernels/cuda/groups.h"
#include "kernels/cuda/kernel_util.h"
#include "kernels/cuda/launch.h"

namespace fleet::cuda {
namespace {

// The axes from input `index` (i64 or i32, rank <= 1, in host memory) when present, else from
// the attribute.
absl::StatusOr<std::vector<int64_t>> ReadAxes(const KernelContext& ctx, int index) {
  if (!ctx.has_input(index)) return ctx.GetInts("axes", {});
  const Tensor& t = ctx.input(index);
  if (t.rank() > 1) {
    return ctx.InvalidArgument(
        absl::StrCat("input 'axes' has shape ", ShapeString(t.shape()), "; expected rank 1"));
  }
  std::vector<int64_t> axes(t.numel());
  if (t.dtype() == DataType::kI64) {
    for (int64_t i = 0; i < t.numel(); ++i) axes[i] = t.data<int64_t>()[i];
  } else if (t.dtype() == DataType::kI32) {
    for (int64_t i = 0; i < t.numel(); ++i) axes[i] = t.data<int32_t>()[i];
  } else {
    return ctx.InvalidArgument(
        absl::StrCat("input 'axes' has type ", t.TypeString(), "; expected i64"));
  }
  return axes;
}

// Which dims of a rank-`rank` input are reduced; all of them for empty axes, none with
// noop_with_empty_axes.
absl::StatusOr<std::vector<bool>> ReducedDims(const KernelContext& ctx,
                                              const std::vector<int64_t>& axes, int rank) {
  if (!axes.empty()) return cpu::ResolveAxes(ctx, axes, rank);
  return std::vector<bool>(rank, ctx.GetInt("noop_with_empty_axes", 0) == 0);
}

template <bool kMean>
absl::Status ReduceKernel(KernelContext& ctx) {
  if (!ctx.has_input(0)) return ctx.InvalidArgument("missing input 'data'");
  const Tensor& x = ctx.input(0);
  const int rank = x.rank();
  FLEET_ASSIGN_OR_RETURN(const std::vector<int64_t> axes, ReadAxes(ctx, 1));
  if (axes.empty() && ctx.GetInt("noop_with_empty_axes", 0) != 0) {
    ctx.SetOutput(0, x);
    return absl::OkStatus();
  }
  FLEET_ASSIGN_OR_RETURN(const std::vector<bool> reduce, ReducedDims(ctx, axes, rank));
  if (rank > kMaxRank) {
    return ctx.Unimplemented(absl::StrCat("input ", x.TypeString(), " has rank ", rank,
                                          "; the CUDA reduction handles at most ", kMaxRank));
  }
  const bool keepdims = ctx.GetInt("keepdims", 1) != 0;
  std::vector<int64_t> out_shape;
  ReduceIndex index;
  index.rank = rank;
  int64_t stride = 1, reduced_n = 1;
  for (int d = rank - 1; d >= 0; --d) {
    index.out_dims[d] = reduce[d] ? 1 : x.dim(d);
    index.reduced_dims[d] = reduce[d] ? x.dim(d) : 1;
    index.x_strides[d] = stride;
    stride *= x.dim(d);
    reduced_n *= index.reduced_dims[d];
  }
  for (int d = 0; d < rank; ++d) {
    if (!reduce[d]) {
      out_shape.push_back(x.dim(d));
    } else if (keepdims) {
      out_shape.push_back(1);
    }
  }
  Tensor* y = ctx.Output(0, x.dtype(), out_shape);
  FLEET_RETURN_IF_ERROR(Launched(
      ctx,
      LaunchReduceTo(x.data<float>(), y->data<float>(), y->numel(), reduced_n, index, Stream(ctx)),
      "reduction kernel"));
  if (!kMean) return absl::OkStatus();
  return Launched(
      ctx,
      LaunchScale(y->data<float>(), y->numel(), 1.f / static_cast<float>(reduced_n), Stream(ctx)),
      "scale kernel");
}

// fleet.expand_like(X, Like, Axes?) -> Out: X, the gradient of a reduction of Like, spread
// over Like's shape (divided by the reduced count when `mean`).
absl::Status ExpandLikeKernel(KernelContext& ctx) {
  for (int i = 0; i < 2; ++i) {
    if (!ctx.has_input(i)) return ctx.InvalidArgument(absl::StrCat("input ", i, " is missing"));
  }
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
  FLEET_ASSIGN_OR_RETURN(const std::vector<bool> reduce, ReducedDims(ctx, axes, rank));
  int64_t count = 1, kept_n = 1;
  for (int d = 0; d < rank; ++d) {
    if (reduce[d]) {
      count *= like.dim(d);
    } else {
      kept_n *= like.dim(d);
    }
  }
  if (dy.numel() != kept_n) {
    return ctx.InvalidArgument(absl::StrCat("gradient ", dy.TypeString(), " does not match the ",
                                            "reduction of ", like.TypeString()));
  }
  if (rank > kMaxRank) {
    return ctx.Unimplemented(absl::StrCat("input ", like.TypeString(), " has rank ", rank,
                                          "; the CUDA expand handles at most ", kMaxRank));
  }
  PermuteIndex index;
  index.rank = rank;
  int64_t stride = 1;
  for (int d = rank - 1; d >= 0; --d) {
    index.dims[d] = like.dim(d);
    index.x_strides[d] = reduce[d] ? 0 : stride;
    if (!reduce[d]) stride *= like.dim(d);
  }
  Tensor* out = ctx.Output(0, dy.dtype(), like.shape());
  FLEET_RETURN_IF_ERROR(Launched(
      ctx, LaunchPermute(dy.data<float>(), out->data<float>(), out->numel(), index, Stream(ctx)),
      "expand kernel"));
  if (ctx.GetInt("mean", 0) == 0 || count == 0) return absl::OkStatus();
  return Launched(
      ctx,
      LaunchScale(out->data<float>(), out->numel(), 1.f / static_cast<float>(count), Stream(ctx)),
      "scale kernel");
}

}  // namespace

void RegisterReduceKernels(KernelTable& table) {
  const Device cuda = Device::kCuda;
  table.Add("ReduceSum", cuda, {DataType::kF32}, &ReduceKernel<false>);
  table.Add("ReduceMean", cuda, {DataType::kF32}, &ReduceKernel<true>);
  table.Add("fleet.expand_like", cuda, {DataType::kF32}, &ExpandLikeKernel);
  for (const char* op : {"ReduceSum", "ReduceMean"}) {
    // noop_with_empty_axes returns X itself; the axes input is read on the host.
    KernelTraits traits = KernelTraits::Aliases({{0, 0}});
    traits.host_inputs = {1};
    table.SetTraits(op, cuda, std::move(traits));
  }
  KernelTraits expand;
  expand.host_inputs = {2};
  table.SetTraits("fleet.expand_like", cuda, std::move(expand));
}

}  // namespace fleet::cuda
