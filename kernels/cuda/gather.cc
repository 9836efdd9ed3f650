// Gather (f32 data, i64 or i32 indices, any axis), its dense gradient fleet.gather_grad and
// an embedding table's sparse-rows gradient fleet.gather_grad_sparse on the GPU, with the checks
// and messages of kernels/cpu/index.cc and grad_index.cc. The indices stay on the device, so an
// index out of range gives NaN in the output (and adds nothing to the gradient, its sparse row
// an id of -1 that the updates skip) where the CPU kernels reject it.
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "ir/status_macros.h"
#include "kernels/cpu/shape_util.h"
#include "kernels/cuda/groups.h"
#include "kernels/cuda/kernel_util.h"
#include "kernels/cuda/launch.h"

namespace fleet::cuda {
namespace {

// The shape Gather gives: data's dims before `axis`, the indices' dims, data's dims after it.
std::vector<int64_t> GatherShape(const std::vector<int64_t>& data,
                                 const std::vector<int64_t>& indices, int axis) {
  std::vector<int64_t> shape(data.begin(), data.begin() + axis);
  shape.insert(shape.end(), indices.begin(), indices.end());
  shape.insert(shape.end(), data.begin() + axis + 1, data.end());
  return shape;
}

absl::Status CheckIndices(const KernelContext& ctx, const Tensor& t) {
  if (t.dtype() == DataType::kI64 || t.dtype() == DataType::kI32) return absl::OkStatus();
  return ctx.InvalidArgument(
      absl::StrCat("input 'indices' is ", t.TypeString(), "; expected i64 or i32"));
}

// [outer, dim, row] around `axis` of `shape`.
void Split(const std::vector<int64_t>& shape, int axis, int64_t* outer, int64_t* dim,
           int64_t* row) {
  *outer = NumElements(std::vector<int64_t>(shape.begin(), shape.begin() + axis));
  *dim = shape[axis];
  *row = NumElements(std::vector<int64_t>(shape.begin() + axis + 1, shape.end()));
}

absl::Status GatherKernel(KernelContext& ctx) {
  const Tensor& data = ctx.input(0);
  const Tensor& indices = ctx.input(1);
  if (data.rank() == 0) return ctx.InvalidArgument("data is a scalar; expected rank >= 1");
  FLEET_ASSIGN_OR_RETURN(const int axis,
                         cpu::NormalizeAxis(ctx, ctx.GetInt("axis", 0), data.rank()));
  FLEET_RETURN_IF_ERROR(CheckIndices(ctx, indices));
  int64_t outer, dim, row;
  Split(data.shape(), axis, &outer, &dim, &row);
  Tensor* out = ctx.Output(0, data.dtype(), GatherShape(data.shape(), indices.shape(), axis));
  return Launched(
      ctx,
      LaunchGather(data.data<float>(), indices.raw_data(), indices.dtype() == DataType::kI64,
                   out->data<float>(), outer, dim, indices.numel(), row, Stream(ctx)),
      "Gather kernel");
}

// The checks the gradients share: three inputs, the axis (`sparse`: only 0, as sparse rows
// are rows of axis 0), OutGrad shaped as Gather's result, the indices' dtype. Returns the axis.
absl::StatusOr<int> CheckGatherGrad(const KernelContext& ctx, bool sparse) {
  for (int i = 0; i < 3; ++i) {
    if (!ctx.has_input(i)) return ctx.InvalidArgument(absl::StrCat("input ", i, " is missing"));
  }
  const Tensor& dy = ctx.input(0);
  const Tensor& indices = ctx.input(1);
  const Tensor& like = ctx.input(2);
  FLEET_ASSIGN_OR_RETURN(const int axis,
                         cpu::NormalizeAxis(ctx, ctx.GetInt("axis", 0), like.rank()));
  if (sparse && axis != 0) {
    return ctx.InvalidArgument(absl::StrCat("axis ", axis, "; sparse rows need axis 0 (use ",
                                            "fleet.gather_grad for other axes)"));
  }
  if (dy.shape() != GatherShape(like.shape(), indices.shape(), axis)) {
    return ctx.InvalidArgument(absl::StrCat("gradient ", dy.TypeString(), " does not match ",
                                            "Gather of ", like.TypeString(), " by ",
                                            indices.TypeString(), " on axis ", axis));
  }
  FLEET_RETURN_IF_ERROR(CheckIndices(ctx, indices));
  return axis;
}

// fleet.gather_grad(OutGrad, Indices, Like) -> XGrad.
absl::Status GatherGradKernel(KernelContext& ctx) {
  FLEET_ASSIGN_OR_RETURN(const int axis, CheckGatherGrad(ctx, /*sparse=*/false));
  const Tensor& dy = ctx.input(0);
  const Tensor& indices = ctx.input(1);
  const Tensor& like = ctx.input(2);
  int64_t outer, dim, row;
  Split(like.shape(), axis, &outer, &dim, &row);
  Tensor* dx = ctx.Output(0, dy.dtype(), like.shape());
  return Launched(
      ctx,
      LaunchGatherGrad(dy.data<float>(), indices.raw_data(), indices.dtype() == DataType::kI64,
                       dx->data<float>(), outer, dim, indices.numel(), row, Stream(ctx)),
      "gather_grad kernel");
}

// fleet.gather_grad_sparse(OutGrad, Indices, Like) -> XGrad: sparse rows whose values are
// OutGrad (a view, one row per index) and whose ids are the indices, made i64 and counted from
// the end where negative.
absl::Status GatherGradSparseKernel(KernelContext& ctx) {
  FLEET_RETURN_IF_ERROR(CheckGatherGrad(ctx, /*sparse=*/true).status());
  const Tensor& dy = ctx.input(0);
  const Tensor& indices = ctx.input(1);
  const Tensor& like = ctx.input(2);
  const int64_t n = indices.numel();
  Tensor ids(DataType::kI64, {n}, ctx.device().allocator);
  FLEET_RETURN_IF_ERROR(Launched(ctx,
                                 LaunchRowIds(indices.raw_data(), indices.dtype() == DataType::kI64,
                                              n, like.dim(0), ids.data<int64_t>(), Stream(ctx)),
                                 "sparse row ids kernel"));
  std::vector<int64_t> values_shape = like.shape();
  values_shape[0] = n;
  ctx.SetOutput(
      0, Tensor::SparseRows(dy.Reshaped(std::move(values_shape)), std::move(ids), like.dim(0)));
  return absl::OkStatus();
}

}  // namespace

void RegisterGatherKernels(KernelTable& table) {
  table.Add("Gather", Device::kCuda, {DataType::kF32}, &GatherKernel);
  table.Add("fleet.gather_grad", Device::kCuda, {DataType::kF32}, &GatherGradKernel);
  table.Add("fleet.gather_grad_sparse", Device::kCuda, {DataType::kF32}, &GatherGradSparseKernel);
  // The CPU kernel's declaration: the values view OutGrad (the ids are new here, where the CPU
  // may hand over Indices).
  table.SetTraits("fleet.gather_grad_sparse", Device::kCuda,
                  KernelTraits::Aliases({{0, 0}, {1, 0}}));
}

}  // namespace fleet::cuda
