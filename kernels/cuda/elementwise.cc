// Elementwise ops on the GPU: Add, Sub, Mul, Div (NumPy broadcasting), Relu, Sigmoid, Tanh, Erf
// and their gradients, Neg, fleet.reduce_to_like and fleet.grad_sum, in f32. Shapes and dtypes
// are checked as the CPU kernels check them, with the same helpers (kernels/cpu/broadcast.h),
// before anything is launched.
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "ir/status_macros.h"
#include "kernels/cpu/broadcast.h"
#include "kernels/cpu/elementwise_util.h"
#include "kernels/cuda/groups.h"
#include "kernels/cuda/kernel_util.h"
#include "kernels/cuda/launch.h"

namespace fleet::cuda {
namespace {

template <BinaryOp kOp>
absl::Status ArithKernel(KernelContext& ctx) {
  FLEET_RETURN_IF_ERROR(cpu::CheckSameDtype(ctx, 1));
  const Tensor& a = ctx.input(0);
  const Tensor& b = ctx.input(1);
  FLEET_ASSIGN_OR_RETURN(const cpu::BroadcastPlan plan, cpu::PlanBroadcast(ctx, {&a, &b}));
  // The merged walk of the plan: its outer dims, then the inner run.
  BroadcastIndex index;
  const int rank = static_cast<int>(plan.outer_dims.size()) + 1;
  if (rank > kMaxRank) {
    return ctx.Unimplemented(absl::StrCat("inputs ", a.TypeString(), " and ", b.TypeString(),
                                          " broadcast over ", rank, " separate dims; the CUDA ",
                                          "kernel walks at most ", kMaxRank));
  }
  index.rank = rank;
  for (int d = 0; d + 1 < rank; ++d) {
    index.dims[d] = plan.outer_dims[d];
    index.a_strides[d] = plan.outer_strides[0][d];
    index.b_strides[d] = plan.outer_strides[1][d];
  }
  index.dims[rank - 1] = plan.inner;
  index.a_strides[rank - 1] = plan.inner_stride[0];
  index.b_strides[rank - 1] = plan.inner_stride[1];
  Tensor* y = ctx.Output(0, a.dtype(), plan.out_shape);
  return Launched(ctx,
                  LaunchBinary(kOp, a.data<float>(), b.data<float>(), y->data<float>(), y->numel(),
                               index, Stream(ctx)),
                  "binary elementwise kernel");
}

template <Activation kF>
absl::Status ActivationKernel(KernelContext& ctx) {
  if (!ctx.has_input(0)) return ctx.InvalidArgument("missing input 'X'");
  const Tensor& x = ctx.input(0);
  Tensor* y = ctx.Output(0, x.dtype(), x.shape());
  return Launched(ctx,
                  LaunchActivation(kF, x.data<float>(), y->data<float>(), x.numel(), Stream(ctx)),
                  "activation kernel");
}

// fleet.relu_grad, sigmoid_grad, tanh_grad (Out, OutGrad) and erf_grad (X, OutGrad) -> XGrad;
// checked like kernels/cpu/grad_activation.cc.
template <Activation kF>
absl::Status ActivationGradKernel(KernelContext& ctx) {
  if (!ctx.has_input(0) || !ctx.has_input(1)) {
    return ctx.InvalidArgument("needs the forward tensor and the output gradient");
  }
  const Tensor& y = ctx.input(0);
  const Tensor& dy = ctx.input(1);
  if (y.dtype() != dy.dtype() || y.shape() != dy.shape()) {
    return ctx.InvalidArgument(absl::StrCat("the output gradient is ", dy.TypeString(),
                                            "; expected ", y.TypeString(), " like the forward"));
  }
  Tensor* dx = ctx.Output(0, y.dtype(), y.shape());
  return Launched(ctx,
                  LaunchActivationGrad(kF, y.data<float>(), dy.data<float>(), dx->data<float>(),
                                       y.numel(), Stream(ctx)),
                  "activation gradient kernel");
}

// fleet.reduce_to_like(X, Like) -> Out: X summed over the dims broadcasting stretched.
absl::Status ReduceToLikeKernel(KernelContext& ctx) {
  if (!ctx.has_input(0) || !ctx.has_input(1)) return ctx.InvalidArgument("needs X and Like");
  const Tensor& x = ctx.input(0);
  const Tensor& like = ctx.input(1);
  const int rank = x.rank();
  const int offset = rank - like.rank();
  bool fits = offset >= 0;
  for (int d = 0; fits && d < like.rank(); ++d) {
    const int64_t s = like.dim(d);
    fits = s == x.dim(d + offset) || s == 1;
  }
  if (!fits) {
    return ctx.InvalidArgument(absl::StrCat("cannot sum ", x.TypeString(), " down to ",
                                            like.TypeString(), ": the shapes do not broadcast"));
  }
  if (x.shape() == like.shape()) {
    ctx.SetOutput(0, x);
    return absl::OkStatus();
  }
  if (rank > kMaxRank) {
    return ctx.Unimplemented(absl::StrCat("cannot sum ", x.TypeString(), " on the GPU: rank ", rank,
                                          " exceeds ", kMaxRank));
  }
  ReduceIndex index;
  index.rank = rank;
  int64_t stride = 1, reduced_n = 1;
  for (int d = rank - 1; d >= 0; --d) {
    const bool kept = d >= offset && like.dim(d - offset) == x.dim(d);
    index.out_dims[d] = kept ? x.dim(d) : 1;
    index.reduced_dims[d] = kept ? 1 : x.dim(d);
    index.x_strides[d] = stride;
    stride *= x.dim(d);
    reduced_n *= index.reduced_dims[d];
  }
  Tensor* out = ctx.Output(0, x.dtype(), like.shape());
  return Launched(ctx,
                  LaunchReduceTo(x.data<float>(), out->data<float>(), out->numel(), reduced_n,
                                 index, Stream(ctx)),
                  "reduce_to_like kernel");
}

// y = a + b over n elements (no broadcasting).
cudaError_t LaunchSum(const float* a, const float* b, float* y, int64_t n, cudaStream_t stream) {
  BroadcastIndex index;
  index.rank = 1;
  index.dims[0] = n;
  index.a_strides[0] = 1;
  index.b_strides[0] = 1;
  return LaunchBinary(BinaryOp::kAdd, a, b, y, n, index, stream);
}

// Concatenates sparse rows (values and ids), as kernels/cpu/autodiff.cc does: repeated ids add
// up where the rows are applied.
// The elements of one row: the product of the dims after the first.
int64_t RowWidth(const Tensor& t) {
  int64_t width = 1;
  for (int d = 1; d < t.rank(); ++d) width *= t.dim(d);
  return width;
}

absl::Status ConcatRows(KernelContext& ctx, const std::vector<const Tensor*>& parts) {
  const Tensor& first = *parts[0];
  const int64_t width = RowWidth(first);
  int64_t n = 0;
  for (const Tensor* p : parts) {
    if (p->rank() != first.rank() || RowWidth(*p) != width ||
        p->sparse_height() != first.sparse_height()) {
      return ctx.InvalidArgument(absl::StrCat("sparse rows ", p->TypeString(), " and ",
                                              first.TypeString(), " do not add up"));
    }
    n += p->rows().numel();
  }
  std::vector<int64_t> shape = first.shape();
  shape[0] = n;
  Tensor values(DataType::kF32, shape, ctx.device().allocator);
  Tensor ids(DataType::kI64, {n}, ctx.device().allocator);
  int64_t at = 0;
  for (const Tensor* p : parts) {
    const int64_t k = p->rows().numel();
    FLEET_RETURN_IF_ERROR(
        Launched(ctx,
                 cudaMemcpyAsync(ids.data<int64_t>() + at, p->rows().data<int64_t>(),
                                 k * sizeof(int64_t), cudaMemcpyDeviceToDevice, Stream(ctx)),
                 "cudaMemcpyAsync"));
    FLEET_RETURN_IF_ERROR(
        Launched(ctx,
                 cudaMemcpyAsync(values.data<float>() + at * width, p->data<float>(),
                                 k * width * sizeof(float), cudaMemcpyDeviceToDevice, Stream(ctx)),
                 "cudaMemcpyAsync"));
    at += k;
  }
  ctx.SetOutput(0, Tensor::SparseRows(std::move(values), std::move(ids), first.sparse_height()));
  return absl::OkStatus();
}

// fleet.grad_sum(X...) -> Out: the gradients of one var from its readers, added up. Dense parts
// are summed; sparse rows are scattered into that sum, or concatenated when every part is sparse.
absl::Status GradSumKernel(KernelContext& ctx) {
  if (!ctx.has_input(0)) return ctx.InvalidArgument("input 0 is missing");
  std::vector<const Tensor*> parts;
  for (int i = 0; i < ctx.num_inputs(); ++i) {
    if (!ctx.has_input(i)) continue;
    if (ctx.input(i).dtype() != ctx.input(0).dtype()) {
      return ctx.InvalidArgument(absl::StrCat("input ", i, " is ", ctx.input(i).TypeString(),
                                              "; expected the dtype of input 0"));
    }
    parts.push_back(&ctx.input(i));
  }
  if (parts.empty()) return ctx.InvalidArgument("has no inputs");
  const Tensor* dense_like = nullptr;
  for (const Tensor* p : parts) {
    if (!p->is_sparse_rows()) {
      dense_like = p;
      break;
    }
  }
  if (dense_like == nullptr) return ConcatRows(ctx, parts);
  Tensor* out = ctx.Output(0, dense_like->dtype(), dense_like->shape());
  const int64_t n = out->numel();
  float* dst = out->data<float>();
  bool started = false;
  for (const Tensor* p : parts) {
    if (p->is_sparse_rows()) continue;
    if (p->shape() != out->shape()) {
      return ctx.InvalidArgument(
          absl::StrCat("input ", p->TypeString(), " differs from ", out->TypeString()));
    }
    const cudaError_t e = started ? LaunchSum(dst, p->data<float>(), dst, n, Stream(ctx))
                                  : cudaMemcpyAsync(dst, p->data<float>(), n * sizeof(float),
                                                    cudaMemcpyDeviceToDevice, Stream(ctx));
    FLEET_RETURN_IF_ERROR(Launched(ctx, e, "grad_sum"));
    started = true;
  }
  for (const Tensor* p : parts) {
    if (!p->is_sparse_rows()) continue;
    if (out->rank() == 0 || p->sparse_height() != out->dim(0)) {
      return ctx.InvalidArgument(
          absl::StrCat("sparse rows ", p->TypeString(), " do not fit ", out->TypeString()));
    }
    const int64_t height = out->dim(0);
    const int64_t width = height == 0 ? 0 : n / height;
    const int64_t rows = p->rows().numel();
    if (p->rank() == 0 || p->dim(0) != rows || p->numel() != rows * width) {
      return ctx.InvalidArgument(absl::StrCat("sparse rows ", p->TypeString(),
                                              " do not fit a table ", out->TypeString()));
    }
    FLEET_RETURN_IF_ERROR(Launched(
        ctx,
        LaunchScatterAddRows(p->data<float>(), p->rows().data<int64_t>(), rows, width, height, dst,
                             nullptr, Stream(ctx)),
        "grad_sum's sparse rows"));
  }
  return absl::OkStatus();
}

}  // namespace

void RegisterElementwiseKernels(KernelTable& table) {
  const Device cuda = Device::kCuda;
  table.Add("Add", cuda, {DataType::kF32}, &ArithKernel<BinaryOp::kAdd>);
  table.Add("Sub", cuda, {DataType::kF32}, &ArithKernel<BinaryOp::kSub>);
  table.Add("Mul", cuda, {DataType::kF32}, &ArithKernel<BinaryOp::kMul>);
  table.Add("Div", cuda, {DataType::kF32}, &ArithKernel<BinaryOp::kDiv>);
  table.Add("Relu", cuda, {DataType::kF32}, &ActivationKernel<Activation::kRelu>);
  table.Add("Sigmoid", cuda, {DataType::kF32}, &ActivationKernel<Activation::kSigmoid>);
  table.Add("Tanh", cuda, {DataType::kF32}, &ActivationKernel<Activation::kTanh>);
  table.Add("fleet.relu_grad", cuda, {DataType::kF32}, &ActivationGradKernel<Activation::kRelu>);
  table.Add("fleet.sigmoid_grad", cuda, {DataType::kF32},
            &ActivationGradKernel<Activation::kSigmoid>);
  table.Add("fleet.tanh_grad", cuda, {DataType::kF32}, &ActivationGradKernel<Activation::kTanh>);
  // Erf (GELU's core in exported transformers); its gradient takes Erf's input.
  table.Add("Erf", cuda, {DataType::kF32}, &ActivationKernel<Activation::kErf>);
  table.Add("fleet.erf_grad", cuda, {DataType::kF32}, &ActivationGradKernel<Activation::kErf>);
  table.Add("Neg", cuda, {DataType::kF32}, &ActivationKernel<Activation::kNeg>);
  table.Add("fleet.grad_sum", cuda, {DataType::kF32}, &GradSumKernel);
  table.Add("fleet.reduce_to_like", cuda, {DataType::kF32}, &ReduceToLikeKernel);
  // X already of Like's shape is returned as it is.
  table.SetTraits("fleet.reduce_to_like", cuda, KernelTraits::Aliases({{0, 0}}));
}

}  // namespace fleet::cuda
