// Conv, fleet.conv_grad_input and fleet.conv_grad_filter (with the bias gradient) through cuDNN,
// in f32, and in f16 or bf16 for mixed precision (16-bit tensors and filters, f32 compute type,
// tensor-core algorithms allowed; the 16-bit bias and its gradient by own kernels that sum in
// f32), for 1-D to 3-D convolutions with groups, strides, dilations and symmetric pads.
// Shapes and attributes are checked as kernels/cpu/conv.cc and grad_conv.cc check them (window
// geometry from kernels/cpu/window.h), before anything is enqueued.
//
// Per input dtype and shape the op keeps a plan in its state: the cuDNN descriptors and the
// algorithm cuDNN's heuristics rank first among those that fit the workspace limit (and, in f32,
// use no TF32 when the device forbids it), so a training step makes no algorithm queries after the
// first. 1-D convolutions run as 2-D ones over a height of 1 (cuDNN wants 4-D tensors at least).
// Asymmetric pads (SAME_* with an odd total) have no cuDNN form and are refused.
//
// This uses cuDNN's descriptor API (still in cuDNN 9, where the graph API succeeds it).
#include <cudnn.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "ir/status_macros.h"
#include "kernels/cpu/gemm.h"
#include "kernels/cpu/window.h"
#include "kernels/cuda/groups.h"
#include "kernels/cuda/kernel_util.h"
#include "kernels/cuda/launch.h"

namespace fleet::cuda {
namespace {

constexpr size_t kMaxWorkspaceBytes = size_t{1} << 30;

absl::Status DnnDone(const KernelContext& ctx, cudnnStatus_t status, const char* what) {
  if (status == CUDNN_STATUS_SUCCESS) return absl::OkStatus();
  return absl::InternalError(absl::StrCat(std::string(ctx.op_description()), ": ", what,
                                          ": cuDNN error ", static_cast<int>(status), " (",
                                          cudnnGetErrorString(status), ")"));
}

// The checked shapes of one convolution (forward or gradient).
struct ConvShape {
  DataType dtype = DataType::kF32;  // of every tensor: f32 or f16
  std::vector<int64_t> x, w, y;     // X, W and the output (YGrad) shapes
  int64_t group = 1;
  cpu::WindowGeometry g;
};

// The descriptors and algorithms of one ConvShape.
struct ConvPlan {
  cudnnTensorDescriptor_t x = nullptr, y = nullptr, bias = nullptr;
  cudnnFilterDescriptor_t w = nullptr;
  cudnnConvolutionDescriptor_t conv = nullptr;
  bool have_fwd = false, have_bwd_data = false, have_bwd_filter = false;
  cudnnConvolutionFwdAlgoPerf_t fwd{};
  cudnnConvolutionBwdDataAlgoPerf_t bwd_data{};
  cudnnConvolutionBwdFilterAlgoPerf_t bwd_filter{};

  ~ConvPlan() {
    if (x != nullptr) cudnnDestroyTensorDescriptor(x);
    if (y != nullptr) cudnnDestroyTensorDescriptor(y);
    if (bias != nullptr) cudnnDestroyTensorDescriptor(bias);
    if (w != nullptr) cudnnDestroyFilterDescriptor(w);
    if (conv != nullptr) cudnnDestroyConvolutionDescriptor(conv);
  }
};

// The op's plans, one per (dtype, X, W shape) seen.
struct ConvState : KernelState {
  std::map<std::vector<int64_t>, std::unique_ptr<ConvPlan>> plans;
};

// Checks X, W (and YGrad, input 2, when `grad`) as the CPU kernels do.
absl::StatusOr<ConvShape> ReadConv(const KernelContext& ctx, bool grad) {
  ConvShape s;
  if (grad) {
    if (!ctx.has_input(0) || !ctx.has_input(1) || !ctx.has_input(2)) {
      return ctx.InvalidArgument("needs inputs 'X', 'W' and 'YGrad'");
    }
    const Tensor& x = ctx.input(0);
    const Tensor& w = ctx.input(1);
    const Tensor& dy = ctx.input(2);
    if (x.rank() < 3 || w.rank() != x.rank() || w.dtype() != x.dtype() || dy.dtype() != x.dtype()) {
      return ctx.InvalidArgument(absl::StrCat("inputs 'X' ", x.TypeString(), ", 'W' ",
                                              w.TypeString(), ", 'YGrad' ", dy.TypeString(),
                                              "; expected one dtype and X, W of one rank >= 3"));
    }
  } else {
    FLEET_RETURN_IF_ERROR(cpu::CheckConvInputs(ctx, "Conv"));
  }
  const Tensor& x = ctx.input(0);
  const Tensor& w = ctx.input(1);
  s.dtype = x.dtype();
  s.x = x.shape();
  s.w = w.shape();
  const int rank = x.rank() - 2;
  s.group = ctx.GetInt("group", 1);
  const int64_t c = x.dim(1), m = w.dim(0);
  if (grad) {
    if (s.group < 1 || c % s.group != 0 || m % s.group != 0 || w.dim(1) != c / s.group) {
      return ctx.InvalidArgument(absl::StrCat("attribute 'group' ", s.group, " does not fit X ",
                                              ShapeString(x.shape()), " and W ",
                                              ShapeString(w.shape())));
    }
  } else {
    if (s.group < 1 || c % s.group != 0) {
      return ctx.InvalidArgument(absl::StrCat("attribute 'group' is ", s.group,
                                              "; expected a positive divisor of X's ", c,
                                              " channels"));
    }
    if (w.dim(1) != c / s.group) {
      return ctx.InvalidArgument(absl::StrCat("input 'W' has ", w.dim(1),
                                              " input channels per group; expected ", c / s.group,
                                              " (X has ", c, " channels, group ", s.group, ")"));
    }
    if (m % s.group != 0) {
      return ctx.InvalidArgument(absl::StrCat(
          "input 'W' has ", m, " output channels; expected a multiple of group ", s.group));
    }
  }
  std::vector<int64_t> kernel(w.shape().begin() + 2, w.shape().end());
  for (int64_t k : kernel) {
    if (k < 1) {
      return ctx.InvalidArgument(absl::StrCat("input 'W' has shape ", ShapeString(w.shape()),
                                              "; expected positive kernel dims"));
    }
  }
  std::vector<int64_t> attr_kernel = kernel;
  FLEET_RETURN_IF_ERROR(cpu::ReadKernelShape(ctx, rank, &attr_kernel));
  if (attr_kernel != kernel) {
    return ctx.InvalidArgument(
        absl::StrCat("attribute 'kernel_shape' is ", ShapeString(attr_kernel), "; expected ",
                     ShapeString(kernel), " from input 'W' ", ShapeString(w.shape())));
  }
  if (!grad) FLEET_RETURN_IF_ERROR(cpu::CheckConvBias(ctx, m, "one per output channel of 'W'"));
  std::vector<int64_t> in(x.shape().begin() + 2, x.shape().end());
  FLEET_RETURN_IF_ERROR(cpu::ComputeForwardWindow(ctx, "X", in, kernel, false, true, &s.g));
  s.y = {x.dim(0), m};
  for (int64_t d : s.g.OutDims()) s.y.push_back(d);
  if (grad && ctx.input(2).shape() != s.y) {
    return ctx.InvalidArgument(absl::StrCat("input 'YGrad' has shape ",
                                            ShapeString(ctx.input(2).shape()),
                                            "; expected Conv's output shape ", ShapeString(s.y)));
  }
  if (!cpu::GemmDimsFit(x.numel(), w.numel(), NumElements(s.y))) {
    return ctx.InvalidArgument("Conv dims exceed the 32-bit limit of the BLAS backend");
  }
  if (s.g.pad_begin != s.g.pad_end) {
    return ctx.Unimplemented(
        "asymmetric pads (begin != end, e.g. SAME_UPPER with an odd total) have no cuDNN "
        "convolution (hint: pad the input explicitly with Pad, or run this Conv on the cpu)");
  }
  return s;
}

// The dims cuDNN sees: 1-D becomes 2-D over a height of 1.
std::vector<int> DnnDims(const std::vector<int64_t>& shape) {
  std::vector<int> dims(shape.begin(), shape.end());
  if (dims.size() == 3) dims.insert(dims.begin() + 2, 1);
  return dims;
}

std::vector<int> PackedStrides(const std::vector<int>& dims) {
  std::vector<int> strides(dims.size(), 1);
  for (int i = static_cast<int>(dims.size()) - 2; i >= 0; --i) {
    strides[i] = strides[i + 1] * dims[i + 1];
  }
  return strides;
}

// cuDNN's data type of the tensors and filters (the compute type stays float for both).
cudnnDataType_t DnnType(DataType dtype) {
  switch (dtype) {
    case DataType::kF16:
      return CUDNN_DATA_HALF;
    case DataType::kBF16:
      return CUDNN_DATA_BFLOAT16;
    default:
      return CUDNN_DATA_FLOAT;
  }
}

absl::Status SetTensor(const KernelContext& ctx, cudnnTensorDescriptor_t* desc,
                       const std::vector<int>& dims, cudnnDataType_t type) {
  FLEET_RETURN_IF_ERROR(DnnDone(ctx, cudnnCreateTensorDescriptor(desc), "create tensor"));
  const std::vector<int> strides = PackedStrides(dims);
  return DnnDone(ctx,
                 cudnnSetTensorNdDescriptor(*desc, type, static_cast<int>(dims.size()), dims.data(),
                                            strides.data()),
                 "cudnnSetTensorNdDescriptor");
}

// The math types an algorithm may use: FMA only when the device forbids TF32 (f32 data);
// `any_math` (TF32 allowed, or f16 data, where tensor cores multiply f16 and add in f32): all.
bool MathAllowed(cudnnMathType_t math, bool any_math) { return any_math || math == CUDNN_FMA_MATH; }

// Picks the first of cuDNN's ranked algorithms that ran, fits the workspace limit and uses an
// allowed math type.
template <typename Perf>
bool Pick(const Perf* perf, int count, bool any_math, Perf* chosen) {
  for (int i = 0; i < count; ++i) {
    if (perf[i].status == CUDNN_STATUS_SUCCESS && perf[i].memory <= kMaxWorkspaceBytes &&
        MathAllowed(perf[i].mathType, any_math)) {
      *chosen = perf[i];
      return true;
    }
  }
  return false;
}

enum class Pass { kForward, kBackwardData, kBackwardFilter };

// cuDNN picks kernels by algorithm and math type together: the descriptor gets the math type
// the chosen algorithm was ranked with (the three passes may differ) before each call;
// the queries run with the base math type (f32: FMA only without TF32; f16: tensor cores).
absl::Status UseMathOf(const KernelContext& ctx, ConvPlan* plan, cudnnMathType_t math) {
  return DnnDone(ctx, cudnnSetConvolutionMathType(plan->conv, math), "cudnnSetConvolutionMathType");
}

// The plan for `s` in `slot` (the op's state), made (descriptors, and the algorithm for `pass`)
// on first use.
absl::StatusOr<ConvPlan*> PlanFor(KernelContext& ctx, std::unique_ptr<KernelState>* slot,
                                  cudnnHandle_t dnn, const ConvShape& s, Pass pass,
                                  bool allow_tf32) {
  if (*slot == nullptr) *slot = std::make_unique<ConvState>();
  auto* state = static_cast<ConvState*>(slot->get());
  std::vector<int64_t> key = {static_cast<int64_t>(s.dtype)};
  key.insert(key.end(), s.x.begin(), s.x.end());
  key.insert(key.end(), s.w.begin(), s.w.end());
  std::unique_ptr<ConvPlan>& plan = state->plans[key];
  const bool half = s.dtype == DataType::kF16 || s.dtype == DataType::kBF16;
  const cudnnMathType_t base_math =
      half ? CUDNN_TENSOR_OP_MATH : (allow_tf32 ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH);
  const bool any_math = half || allow_tf32;
  if (plan == nullptr) {
    auto made = std::make_unique<ConvPlan>();
    const cudnnDataType_t type = DnnType(s.dtype);
    const std::vector<int> xd = DnnDims(s.x), wd = DnnDims(s.w), yd = DnnDims(s.y);
    FLEET_RETURN_IF_ERROR(SetTensor(ctx, &made->x, xd, type));
    FLEET_RETURN_IF_ERROR(SetTensor(ctx, &made->y, yd, type));
    std::vector<int> bd(yd.size(), 1);
    bd[1] = yd[1];
    FLEET_RETURN_IF_ERROR(SetTensor(ctx, &made->bias, bd, type));
    FLEET_RETURN_IF_ERROR(DnnDone(ctx, cudnnCreateFilterDescriptor(&made->w), "create filter"));
    FLEET_RETURN_IF_ERROR(
        DnnDone(ctx,
                cudnnSetFilterNdDescriptor(made->w, type, CUDNN_TENSOR_NCHW,
                                           static_cast<int>(wd.size()), wd.data()),
                "cudnnSetFilterNdDescriptor"));
    // Spatial parameters in the canonical 3-D geometry; 1-D and 2-D use its last two.
    const int spatial = static_cast<int>(xd.size()) - 2;
    std::vector<int> pad, stride, dilation;
    for (int j = 3 - spatial; j < 3; ++j) {
      pad.push_back(static_cast<int>(s.g.pad_begin[j]));
      stride.push_back(static_cast<int>(s.g.stride[j]));
      dilation.push_back(static_cast<int>(s.g.dilation[j]));
    }
    FLEET_RETURN_IF_ERROR(
        DnnDone(ctx, cudnnCreateConvolutionDescriptor(&made->conv), "create convolution"));
    FLEET_RETURN_IF_ERROR(DnnDone(
        ctx,
        cudnnSetConvolutionNdDescriptor(made->conv, spatial, pad.data(), stride.data(),
                                        dilation.data(), CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT),
        "cudnnSetConvolutionNdDescriptor"));
    FLEET_RETURN_IF_ERROR(
        DnnDone(ctx, cudnnSetConvolutionGroupCount(made->conv, static_cast<int>(s.group)),
                "cudnnSetConvolutionGroupCount"));
    FLEET_RETURN_IF_ERROR(DnnDone(ctx, cudnnSetConvolutionMathType(made->conv, base_math),
                                  "cudnnSetConvolutionMathType"));
    // cuDNN must agree on the output shape, or the descriptors mean something else.
    std::vector<int> out(yd.size());
    FLEET_RETURN_IF_ERROR(
        DnnDone(ctx,
                cudnnGetConvolutionNdForwardOutputDim(made->conv, made->x, made->w,
                                                      static_cast<int>(out.size()), out.data()),
                "cudnnGetConvolutionNdForwardOutputDim"));
    if (out != yd) {
      return absl::InternalError(absl::StrCat(std::string(ctx.op_description()),
                                              ": cuDNN's output shape differs from Conv's ",
                                              ShapeString(s.y)));
    }
    plan = std::move(made);
  }
  constexpr int kAlgos = 16;
  int count = 0;
  bool found = true;
  const bool query = (pass == Pass::kForward && !plan->have_fwd) ||
                     (pass == Pass::kBackwardData && !plan->have_bwd_data) ||
                     (pass == Pass::kBackwardFilter && !plan->have_bwd_filter);
  if (query) FLEET_RETURN_IF_ERROR(UseMathOf(ctx, plan.get(), base_math));
  if (pass == Pass::kForward && !plan->have_fwd) {
    cudnnConvolutionFwdAlgoPerf_t perf[kAlgos];
    FLEET_RETURN_IF_ERROR(
        DnnDone(ctx,
                cudnnGetConvolutionForwardAlgorithm_v7(dnn, plan->x, plan->w, plan->conv, plan->y,
                                                       kAlgos, &count, perf),
                "cudnnGetConvolutionForwardAlgorithm_v7"));
    found = plan->have_fwd = Pick(perf, count, any_math, &plan->fwd);
  } else if (pass == Pass::kBackwardData && !plan->have_bwd_data) {
    cudnnConvolutionBwdDataAlgoPerf_t perf[kAlgos];
    FLEET_RETURN_IF_ERROR(
        DnnDone(ctx,
                cudnnGetConvolutionBackwardDataAlgorithm_v7(dnn, plan->w, plan->y, plan->conv,
                                                            plan->x, kAlgos, &count, perf),
                "cudnnGetConvolutionBackwardDataAlgorithm_v7"));
    found = plan->have_bwd_data = Pick(perf, count, any_math, &plan->bwd_data);
  } else if (pass == Pass::kBackwardFilter && !plan->have_bwd_filter) {
    cudnnConvolutionBwdFilterAlgoPerf_t perf[kAlgos];
    FLEET_RETURN_IF_ERROR(
        DnnDone(ctx,
                cudnnGetConvolutionBackwardFilterAlgorithm_v7(dnn, plan->x, plan->y, plan->conv,
                                                              plan->w, kAlgos, &count, perf),
                "cudnnGetConvolutionBackwardFilterAlgorithm_v7"));
    found = plan->have_bwd_filter = Pick(perf, count, any_math, &plan->bwd_filter);
  }
  if (!found) {
    return ctx.Unimplemented(absl::StrCat(
        "cuDNN offers no algorithm for X ", ShapeString(s.x), " and W ", ShapeString(s.w),
        half ? absl::StrCat(" in ", DataTypeName(s.dtype)) : "", " within a ",
        kMaxWorkspaceBytes >> 20, " MiB workspace", any_math ? "" : " without TF32"));
  }
  return plan.get();
}

// What every convolution kernel starts with: the op's GPU and cuDNN handle, and its state slot
// (a call-local one when the caller keeps no state, as kernel unit tests do).
struct DnnCall {
  CudaDevice* gpu = nullptr;
  cudnnHandle_t dnn = nullptr;
  std::unique_ptr<KernelState> local;
  std::unique_ptr<KernelState>* slot = nullptr;
};

absl::Status StartDnnCall(const KernelContext& ctx, DnnCall* call) {
  FLEET_ASSIGN_OR_RETURN(call->gpu, GpuOf(ctx));
  FLEET_ASSIGN_OR_RETURN(void* dnn, call->gpu->dnn());
  call->dnn = static_cast<cudnnHandle_t>(dnn);
  call->slot = ctx.state() != nullptr ? ctx.state() : &call->local;
  return absl::OkStatus();
}

absl::Status ConvKernel(KernelContext& ctx) {
  FLEET_ASSIGN_OR_RETURN(const ConvShape s, ReadConv(ctx, /*grad=*/false));
  Tensor* y = ctx.Output(0, ctx.input(0).dtype(), s.y);
  if (y->numel() == 0) return absl::OkStatus();
  DnnCall call;
  FLEET_RETURN_IF_ERROR(StartDnnCall(ctx, &call));
  const bool tf32 = call.gpu->options().allow_tf32;
  FLEET_ASSIGN_OR_RETURN(ConvPlan * plan,
                         PlanFor(ctx, call.slot, call.dnn, s, Pass::kForward, tf32));
  FLEET_RETURN_IF_ERROR(UseMathOf(ctx, plan, plan->fwd.mathType));
  Tensor workspace = Scratch(ctx, DataType::kU8, {static_cast<int64_t>(plan->fwd.memory)});
  const float one = 1.f, zero = 0.f;
  FLEET_RETURN_IF_ERROR(
      DnnDone(ctx,
              cudnnConvolutionForward(call.dnn, &one, plan->x, ctx.input(0).raw_data(), plan->w,
                                      ctx.input(1).raw_data(), plan->conv, plan->fwd.algo,
                                      workspace.raw_data(), plan->fwd.memory, &zero, plan->y,
                                      y->raw_data()),
              "cudnnConvolutionForward"));
  if (!ctx.has_input(2)) return absl::OkStatus();
  if (s.dtype != DataType::kF32) {
    // Added in f32 to the 16-bit output cuDNN rounded, and rounded again (the CPU rounds once).
    const int64_t spatial = y->numel() / (s.y[0] * s.y[1]);
    return Launched(ctx,
                    LaunchBiasAddHalf(HalfTypeOf(s.dtype), ctx.input(2).data<uint16_t>(),
                                      y->data<uint16_t>(), s.y[0], s.y[1], spatial, Stream(ctx)),
                    "bias kernel");
  }
  return DnnDone(ctx,
                 cudnnAddTensor(call.dnn, &one, plan->bias, ctx.input(2).data<float>(), &one,
                                plan->y, y->data<float>()),
                 "cudnnAddTensor (bias)");
}

// fleet.conv_grad_input(X, W, YGrad) -> XGrad.
absl::Status ConvGradInputKernel(KernelContext& ctx) {
  FLEET_ASSIGN_OR_RETURN(const ConvShape s, ReadConv(ctx, /*grad=*/true));
  const Tensor& x = ctx.input(0);
  Tensor* dx = ctx.Output(0, x.dtype(), x.shape());
  if (dx->numel() == 0) return absl::OkStatus();
  if (ctx.input(2).numel() == 0 || ctx.input(1).numel() == 0) {
    return Launched(ctx, cudaMemsetAsync(dx->raw_data(), 0, dx->nbytes(), Stream(ctx)),
                    "cudaMemsetAsync");
  }
  DnnCall call;
  FLEET_RETURN_IF_ERROR(StartDnnCall(ctx, &call));
  const bool tf32 = call.gpu->options().allow_tf32;
  FLEET_ASSIGN_OR_RETURN(ConvPlan * plan,
                         PlanFor(ctx, call.slot, call.dnn, s, Pass::kBackwardData, tf32));
  FLEET_RETURN_IF_ERROR(UseMathOf(ctx, plan, plan->bwd_data.mathType));
  Tensor workspace = Scratch(ctx, DataType::kU8, {static_cast<int64_t>(plan->bwd_data.memory)});
  const float one = 1.f, zero = 0.f;
  return DnnDone(ctx,
                 cudnnConvolutionBackwardData(
                     call.dnn, &one, plan->w, ctx.input(1).raw_data(), plan->y,
                     ctx.input(2).raw_data(), plan->conv, plan->bwd_data.algo, workspace.raw_data(),
                     plan->bwd_data.memory, &zero, plan->x, dx->raw_data()),
                 "cudnnConvolutionBackwardData");
}

// fleet.conv_grad_filter(X, W, YGrad) -> WGrad, BGrad?.
absl::Status ConvGradFilterKernel(KernelContext& ctx) {
  FLEET_ASSIGN_OR_RETURN(const ConvShape s, ReadConv(ctx, /*grad=*/true));
  const Tensor& w = ctx.input(1);
  const Tensor& dy = ctx.input(2);
  Tensor* dw = ctx.Output(0, w.dtype(), w.shape());
  Tensor* db = ctx.num_outputs() > 1 ? ctx.Output(1, w.dtype(), {w.dim(0)}) : nullptr;
  if (dy.numel() == 0 || ctx.input(0).numel() == 0) {
    // No positions: both gradients are zero.
    FLEET_RETURN_IF_ERROR(Launched(
        ctx, cudaMemsetAsync(dw->raw_data(), 0, dw->nbytes(), Stream(ctx)), "cudaMemsetAsync"));
    if (db == nullptr) return absl::OkStatus();
    return Launched(ctx, cudaMemsetAsync(db->raw_data(), 0, db->nbytes(), Stream(ctx)),
                    "cudaMemsetAsync");
  }
  DnnCall call;
  FLEET_RETURN_IF_ERROR(StartDnnCall(ctx, &call));
  const bool tf32 = call.gpu->options().allow_tf32;
  FLEET_ASSIGN_OR_RETURN(ConvPlan * plan,
                         PlanFor(ctx, call.slot, call.dnn, s, Pass::kBackwardFilter, tf32));
  FLEET_RETURN_IF_ERROR(UseMathOf(ctx, plan, plan->bwd_filter.mathType));
  Tensor workspace = Scratch(ctx, DataType::kU8, {static_cast<int64_t>(plan->bwd_filter.memory)});
  const float one = 1.f, zero = 0.f;
  FLEET_RETURN_IF_ERROR(DnnDone(
      ctx,
      cudnnConvolutionBackwardFilter(call.dnn, &one, plan->x, ctx.input(0).raw_data(), plan->y,
                                     dy.raw_data(), plan->conv, plan->bwd_filter.algo,
                                     workspace.raw_data(), plan->bwd_filter.memory, &zero, plan->w,
                                     dw->raw_data()),
      "cudnnConvolutionBackwardFilter"));
  if (db == nullptr) return absl::OkStatus();
  if (s.dtype != DataType::kF32) {
    const int64_t spatial = dy.numel() / (s.y[0] * s.y[1]);
    return Launched(ctx,
                    LaunchBiasGradHalf(HalfTypeOf(s.dtype), dy.data<uint16_t>(),
                                       db->data<uint16_t>(), s.y[0], s.y[1], spatial, Stream(ctx)),
                    "bias gradient kernel");
  }
  return DnnDone(ctx,
                 cudnnConvolutionBackwardBias(call.dnn, &one, plan->y, dy.data<float>(), &zero,
                                              plan->bias, db->data<float>()),
                 "cudnnConvolutionBackwardBias");
}

}  // namespace

void RegisterConvKernels(KernelTable& table) {
  // f32, and f16 or bf16 for mixed precision: one kernel each, the dtype read from the inputs.
  const std::vector<DataType> dtypes = {DataType::kF32, DataType::kF16, DataType::kBF16};
  table.Add("Conv", Device::kCuda, dtypes, &ConvKernel);
  table.Add("fleet.conv_grad_input", Device::kCuda, dtypes, &ConvGradInputKernel);
  table.Add("fleet.conv_grad_filter", Device::kCuda, dtypes, &ConvGradFilterKernel);
}

}  // namespace fleet::cuda
