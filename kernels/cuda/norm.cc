// LayerNormalization and fleet.layer_norm_grad on the GPU (f32; stash_type 1), with the checks
// and messages of kernels/cpu/norm.cc and grad_norm.cc. X is viewed as [rows, D] around `axis`.
// Scale and B broadcast to X's normalised dims: a broadcast one is first expanded on the device
// (and its gradient summed back down to its shape).
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

// Strides of `shape` against `dims` (right-aligned, 0 where `shape` broadcasts); false when it
// does not broadcast. Leading dims of `shape` beyond `dims` must be 1.
bool BroadcastStrides(const std::vector<int64_t>& shape, const std::vector<int64_t>& dims,
                      std::vector<int64_t>* strides) {
  const int rank = static_cast<int>(dims.size());
  const int lead = static_cast<int>(shape.size()) - rank;
  for (int i = 0; i < lead; ++i) {
    if (shape[i] != 1) return false;
  }
  strides->assign(rank, 0);
  int64_t st = 1;
  for (int d = rank - 1; d >= 0; --d) {
    const int sd = d + lead;
    const int64_t extent = sd >= 0 ? shape[sd] : 1;
    if (extent != dims[d] && extent != 1) return false;
    (*strides)[d] = extent == 1 ? 0 : st;
    st *= extent;
  }
  return true;
}

// `t`, broadcast to `dims` ([D] elements): the tensor itself when it already has them all,
// else an expanded copy on the device.
absl::StatusOr<Tensor> Expanded(const KernelContext& ctx, const Tensor& t,
                                const std::vector<int64_t>& dims,
                                const std::vector<int64_t>& strides) {
  const int64_t total = NumElements(dims);
  if (t.numel() == total) return t;
  if (dims.size() > static_cast<size_t>(kMaxRank)) {
    return ctx.Unimplemented(absl::StrCat("a broadcast over ", dims.size(),
                                          " normalised dims; the CUDA kernel handles ", kMaxRank));
  }
  PermuteIndex index;
  index.rank = static_cast<int>(dims.size());
  for (int d = 0; d < index.rank; ++d) {
    index.dims[d] = dims[d];
    index.x_strides[d] = strides[d];
  }
  Tensor out = Scratch(ctx, DataType::kF32, dims);
  FLEET_RETURN_IF_ERROR(
      Launched(ctx, LaunchPermute(t.data<float>(), out.data<float>(), total, index, Stream(ctx)),
               "broadcast kernel"));
  return out;
}

// Sums `full` ([D], over `dims`) down into `out`, whose elements are those of a shape with
// `strides` against `dims` (0 where it broadcast).
absl::Status SumDown(const KernelContext& ctx, const Tensor& full, const std::vector<int64_t>& dims,
                     const std::vector<int64_t>& strides, Tensor* out) {
  const int rank = static_cast<int>(dims.size());
  ReduceIndex index;
  index.rank = rank;
  int64_t stride = 1, reduced_n = 1;
  for (int d = rank - 1; d >= 0; --d) {
    const bool kept = strides[d] != 0 || dims[d] == 1;
    index.out_dims[d] = kept ? dims[d] : 1;
    index.reduced_dims[d] = kept ? 1 : dims[d];
    index.x_strides[d] = stride;
    stride *= dims[d];
    reduced_n *= index.reduced_dims[d];
  }
  return Launched(ctx,
                  LaunchReduceTo(full.data<float>(), out->data<float>(), out->numel(), reduced_n,
                                 index, Stream(ctx)),
                  "sum-down kernel");
}

absl::Status LayerNormKernel(KernelContext& ctx) {
  if (!ctx.has_input(0)) return ctx.InvalidArgument("missing input 'X'");
  const Tensor& x = ctx.input(0);
  FLEET_ASSIGN_OR_RETURN(const int axis, cpu::ResolveAxis(ctx, ctx.GetInt("axis", -1), x.rank()));
  const double eps = ctx.GetFloat("epsilon", 1e-5f);
  const int64_t stash = ctx.GetInt("stash_type", 1);
  if (stash != 1) {
    return ctx.Unimplemented(absl::StrCat("stash_type ", stash,
                                          " has no CUDA kernel; expected 1 (float) (hint: 11 "
                                          "runs on the cpu)"));
  }
  const std::vector<int64_t> norm_dims(x.shape().begin() + axis, x.shape().end());
  const int64_t d = NumElements(norm_dims);
  const int64_t rows =
      NumElements(std::vector<int64_t>(x.shape().begin(), x.shape().begin() + axis));
  if (!ctx.has_input(1)) return ctx.InvalidArgument("input 'Scale' is missing");
  std::vector<Tensor> params;  // Scale, then B when given, expanded to [D]
  for (int i = 1; i <= 2; ++i) {
    if (!ctx.has_input(i)) continue;
    const Tensor& t = ctx.input(i);
    const char* name = i == 1 ? "Scale" : "B";
    if (t.dtype() != x.dtype()) {
      return ctx.InvalidArgument(absl::StrCat("input '", name, "' is ", t.TypeString(),
                                              "; expected element type ",
                                              std::string(DataTypeName(x.dtype())), " like X"));
    }
    std::vector<int64_t> strides;
    if (t.rank() > static_cast<int>(norm_dims.size()) ||
        !BroadcastStrides(t.shape(), norm_dims, &strides)) {
      return ctx.InvalidArgument(absl::StrCat("input '", name, "' has shape ",
                                              ShapeString(t.shape()),
                                              "; expected a shape that broadcasts to ",
                                              ShapeString(norm_dims), " (X's normalised dims)"));
    }
    FLEET_ASSIGN_OR_RETURN(Tensor expanded, Expanded(ctx, t, norm_dims, strides));
    params.push_back(std::move(expanded));
  }
  std::vector<int64_t> stat_shape(x.shape().begin(), x.shape().begin() + axis);
  stat_shape.resize(x.rank(), 1);
  Tensor* y = ctx.Output(0, x.dtype(), x.shape());
  float* mean =
      ctx.num_outputs() > 1 ? ctx.Output(1, DataType::kF32, stat_shape)->data<float>() : nullptr;
  float* inv =
      ctx.num_outputs() > 2 ? ctx.Output(2, DataType::kF32, stat_shape)->data<float>() : nullptr;
  const float* bias = params.size() > 1 ? params[1].data<float>() : nullptr;
  return Launched(ctx,
                  LaunchLayerNorm(x.data<float>(), params[0].data<float>(), bias, y->data<float>(),
                                  mean, inv, d == 0 ? 0 : rows, d, eps, Stream(ctx)),
                  "LayerNormalization kernel");
}

// fleet.layer_norm_grad(X, Scale, B?, YGrad) -> XGrad, ScaleGrad, BGrad.
absl::Status LayerNormGradKernel(KernelContext& ctx) {
  if (!ctx.has_input(0) || !ctx.has_input(1) || !ctx.has_input(3)) {
    return ctx.InvalidArgument("needs inputs 'X', 'Scale' and 'YGrad'");
  }
  const Tensor& x = ctx.input(0);
  const Tensor& scale = ctx.input(1);
  const Tensor& dy = ctx.input(3);
  if (dy.shape() != x.shape() || dy.dtype() != x.dtype() || scale.dtype() != x.dtype()) {
    return ctx.InvalidArgument(absl::StrCat("inputs 'X' ", x.TypeString(), ", 'Scale' ",
                                            scale.TypeString(), ", 'YGrad' ", dy.TypeString(),
                                            "; expected one dtype and YGrad shaped like X"));
  }
  FLEET_ASSIGN_OR_RETURN(const int axis, cpu::ResolveAxis(ctx, ctx.GetInt("axis", -1), x.rank()));
  const double eps = ctx.GetFloat("epsilon", 1e-5f);
  const std::vector<int64_t> norm_dims(x.shape().begin() + axis, x.shape().end());
  const int64_t d = NumElements(norm_dims);
  const int64_t rows = d == 0 ? 0 : x.numel() / d;
  std::vector<int64_t> scale_strides, bias_strides;
  if (!BroadcastStrides(scale.shape(), norm_dims, &scale_strides)) {
    return ctx.InvalidArgument(absl::StrCat("input 'Scale' ", ShapeString(scale.shape()),
                                            " does not broadcast to ", ShapeString(norm_dims)));
  }
  const bool has_b = ctx.has_input(2);
  if (has_b && !BroadcastStrides(ctx.input(2).shape(), norm_dims, &bias_strides)) {
    return ctx.InvalidArgument(absl::StrCat("input 'B' ", ShapeString(ctx.input(2).shape()),
                                            " does not broadcast to ", ShapeString(norm_dims)));
  }
  if (ctx.num_outputs() > 2 && !has_b) {
    return ctx.InvalidArgument("output 'BGrad' needs input 'B' for its shape");
  }
  FLEET_ASSIGN_OR_RETURN(const Tensor full_scale, Expanded(ctx, scale, norm_dims, scale_strides));
  float* dx = ctx.num_outputs() > 0 ? ctx.Output(0, x.dtype(), x.shape())->data<float>() : nullptr;
  Tensor mean = Scratch(ctx, DataType::kF32, {rows});
  Tensor inv = Scratch(ctx, DataType::kF32, {rows});
  // The parameter gradients over all D columns, summed down afterwards where they broadcast.
  const bool want_scale = ctx.num_outputs() > 1, want_bias = ctx.num_outputs() > 2;
  Tensor dscale = want_scale ? Scratch(ctx, DataType::kF32, {d}) : Tensor();
  Tensor dbias = want_bias ? Scratch(ctx, DataType::kF32, {d}) : Tensor();
  FLEET_RETURN_IF_ERROR(Launched(
      ctx,
      LaunchLayerNormGrad(x.data<float>(), full_scale.data<float>(), dy.data<float>(), dx,
                          mean.data<float>(), inv.data<float>(),
                          want_scale ? dscale.data<float>() : nullptr,
                          want_bias ? dbias.data<float>() : nullptr, rows, d, eps, Stream(ctx)),
      "layer_norm_grad kernel"));
  if (want_scale) {
    Tensor* out = ctx.Output(1, x.dtype(), scale.shape());
    FLEET_RETURN_IF_ERROR(SumDown(ctx, dscale, norm_dims, scale_strides, out));
  }
  if (want_bias) {
    Tensor* out = ctx.Output(2, x.dtype(), ctx.input(2).shape());
    FLEET_RETURN_IF_ERROR(SumDown(ctx, dbias, norm_dims, bias_strides, out));
  }
  return absl::OkStatus();
}

}  // namespace

void RegisterNormKernels(KernelTable& table) {
  table.Add("LayerNormalization", Device::kCuda, {DataType::kF32}, &LayerNormKernel);
  table.Add("fleet.layer_norm_grad", Device::kCuda, {DataType::kF32}, &LayerNormGradKernel);
}

}  // namespace fleet::cuda
