// Training bookkeeping on the GPU, so that a training step never leaves the device:
// fleet.fill_constant and fleet.fill_like (f32, f64, i64, i32), fleet.increment (the step
// counter), fleet.lr_schedule (computed on the device from the device step counter) and
// fleet.memcpy (a copy onto the op's GPU, asynchronous from pinned memory). Attributes and
// messages follow kernels/cpu/training.cc, autodiff.cc and memcpy.cc.
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "ir/status_macros.h"
#include "kernels/cuda/groups.h"
#include "kernels/cuda/kernel_util.h"
#include "kernels/cuda/launch.h"

namespace fleet::cuda {
namespace {

template <typename T, typename Bits>
Bits BitsOf(double value) {
  static_assert(sizeof(T) == sizeof(Bits));
  const T v = static_cast<T>(value);
  Bits bits;
  std::memcpy(&bits, &v, sizeof(bits));
  return bits;
}

// Fills `out` with `value` converted to its dtype; false for dtypes other than f32, f64, i64, i32.
absl::StatusOr<bool> Fill(const KernelContext& ctx, Tensor* out, double value) {
  cudaError_t launched;
  switch (out->dtype()) {
    case DataType::kF32:
      launched =
          LaunchFill32(BitsOf<float, uint32_t>(value), out->raw_data(), out->numel(), Stream(ctx));
      break;
    case DataType::kI32:
      launched = LaunchFill32(BitsOf<int32_t, uint32_t>(value), out->raw_data(), out->numel(),
                              Stream(ctx));
      break;
    case DataType::kF64:
      launched =
          LaunchFill64(BitsOf<double, uint64_t>(value), out->raw_data(), out->numel(), Stream(ctx));
      break;
    case DataType::kI64:
      launched = LaunchFill64(BitsOf<int64_t, uint64_t>(value), out->raw_data(), out->numel(),
                              Stream(ctx));
      break;
    default:
      return false;
  }
  FLEET_RETURN_IF_ERROR(Launched(ctx, launched, "fill kernel"));
  return true;
}

absl::Status FillConstantKernel(KernelContext& ctx) {
  const std::string name = ctx.GetString("dtype", "");
  std::optional<DataType> dtype = DataTypeFromName(name);
  if (!dtype) {
    return ctx.InvalidArgument(absl::StrCat("attribute 'dtype' is '", name,
                                            "'; expected a dtype name (f32, f64, i64, i32)"));
  }
  const std::vector<int64_t> shape = ctx.GetInts("shape", {});
  FLEET_RETURN_IF_ERROR(ctx.CheckOutputSize(shape, *dtype));
  if (*dtype != DataType::kF32 && *dtype != DataType::kF64 && *dtype != DataType::kI64 &&
      *dtype != DataType::kI32) {
    return ctx.Unimplemented(absl::StrCat("fill_constant of ", name, "; have f32, f64, i64, i32"));
  }
  Tensor* out = ctx.Output(0, *dtype, shape);
  return Fill(ctx, out, ctx.GetFloat("value", 0.0f)).status();
}

absl::Status FillLikeKernel(KernelContext& ctx) {
  if (!ctx.has_input(0)) return ctx.InvalidArgument("input 'X' is missing");
  const Tensor& x = ctx.input(0);
  Tensor* out = ctx.Output(0, x.dtype(), x.shape());
  FLEET_ASSIGN_OR_RETURN(const bool filled, Fill(ctx, out, ctx.GetFloat("value", 0.0f)));
  if (!filled) return ctx.Unimplemented(absl::StrCat("fill_like of ", x.TypeString()));
  return absl::OkStatus();
}

absl::Status CheckStep(const KernelContext& ctx, const char* slot) {
  if (!ctx.has_input(0)) return ctx.InvalidArgument(absl::StrCat("input '", slot, "' is missing"));
  const Tensor& x = ctx.input(0);
  if (x.dtype() != DataType::kI64 || x.numel() != 1) {
    return ctx.InvalidArgument(absl::StrCat("input '", slot, "' is ", x.TypeString(),
                                            "; expected a one-element i64 step counter"));
  }
  return absl::OkStatus();
}

absl::Status IncrementKernel(KernelContext& ctx) {
  FLEET_RETURN_IF_ERROR(CheckStep(ctx, "X"));
  const Tensor& x = ctx.input(0);
  Tensor* out = ctx.Output(0, DataType::kI64, x.shape());
  return Launched(
      ctx,
      LaunchIncrement(x.data<int64_t>(), ctx.GetInt("step", 1), out->data<int64_t>(), Stream(ctx)),
      "increment kernel");
}

// The attributes of kernels/cpu/training.cc's schedule. The step is on the device, so what the
// CPU kernel checks once it knows the step (a decay that needs decay_steps) is checked for
// every step here.
absl::StatusOr<LrSchedule> ReadSchedule(const KernelContext& ctx) {
  LrSchedule s;
  s.base_lr = ctx.GetFloat("base_lr", 0.0f);
  s.warmup_steps = ctx.GetInt("warmup_steps", 0);
  s.decay_steps = ctx.GetInt("decay_steps", 0);
  s.decay_rate = ctx.GetFloat("decay_rate", 0.0f);
  s.min_lr = ctx.GetFloat("min_lr", 0.0f);
  const std::string decay = ctx.GetString("decay", "constant");
  if (s.warmup_steps < 0 || s.decay_steps < 0) {
    return ctx.InvalidArgument(absl::StrCat("warmup_steps ", s.warmup_steps, " and decay_steps ",
                                            s.decay_steps, " must be >= 0"));
  }
  if (decay == "constant") {
    s.decay = LrDecay::kConstant;
  } else if (decay == "cosine") {
    s.decay = LrDecay::kCosine;
  } else if (decay == "linear") {
    s.decay = LrDecay::kLinear;
  } else if (decay == "exponential") {
    s.decay = LrDecay::kExponential;
  } else if (decay == "step") {
    s.decay = LrDecay::kStep;
  } else {
    return ctx.InvalidArgument(absl::StrCat(
        "unknown decay '", decay, "'; expected constant, cosine, linear, exponential or step"));
  }
  const bool needs_steps = decay == "cosine" || decay == "linear" || decay == "step";
  if (needs_steps && s.decay_steps == 0) {
    return ctx.InvalidArgument(
        absl::StrCat("decay '", decay, "' needs decay_steps > 0 (the length of the decay)"));
  }
  return s;
}

absl::Status LrScheduleKernel(KernelContext& ctx) {
  FLEET_RETURN_IF_ERROR(CheckStep(ctx, "Step"));
  FLEET_ASSIGN_OR_RETURN(const LrSchedule schedule, ReadSchedule(ctx));
  Tensor* out = ctx.Output(0, DataType::kF32, {1});
  return Launched(
      ctx,
      LaunchLrSchedule(ctx.input(0).data<int64_t>(), schedule, out->data<float>(), Stream(ctx)),
      "lr_schedule kernel");
}

// The op's GPU when `x` sits in its pinned host memory (a batch of fleet-run's reader); null
// when it does not, or when no CudaDevices are installed (then it cannot be that memory either).
CudaDevice* PinnedOwner(const KernelContext& ctx, const Tensor& x) {
  if (x.buffer() == nullptr || x.is_sparse_rows()) return nullptr;
  const CudaDevices* devices = ctx.env().Get<CudaDevices>();
  CudaDevice* gpu = devices != nullptr ? devices->Find(ctx.device().device.ordinal) : nullptr;
  return gpu != nullptr && x.buffer()->allocator() == gpu->pinned_host_allocator() ? gpu : nullptr;
}

// A copy onto the op's GPU. From pinned memory it is DMA enqueued on the stream, and the kernel
// returns at once: later kernels on the stream are ordered after it, and the device holds the
// source until the copy has read it (CudaDevice::UploadAsync). From any other host memory
// (pageable) the allocator's copy function returns once the bytes have arrived, because the
// source may go as soon as the kernel returns.
absl::Status MemcpyKernel(KernelContext& ctx) {
  if (!ctx.has_input(0)) return ctx.InvalidArgument("input 'X' is missing");
  const Tensor& x = ctx.input(0);
  // Already on this GPU (state that stays on the device between steps): handed over, not copied.
  if (x.device() == ctx.device().device) {
    ctx.SetOutput(0, x);
    return absl::OkStatus();
  }
  if (CudaDevice* gpu = PinnedOwner(ctx, x)) {
    Tensor* out = ctx.Output(0, x.dtype(), x.shape());
    const absl::Status uploaded = gpu->UploadAsync(x, *out);
    if (!uploaded.ok()) {
      return absl::InternalError(
          absl::StrCat(std::string(ctx.op_description()), ": ", std::string(uploaded.message())));
    }
    return absl::OkStatus();
  }
  ctx.SetOutput(0, x.Clone(ctx.device().allocator));
  return absl::OkStatus();
}

}  // namespace

void RegisterTrainingKernels(KernelTable& table) {
  const Device cuda = Device::kCuda;
  table.AddAnyType("fleet.fill_constant", cuda, &FillConstantKernel, -1);
  table.AddAnyType("fleet.fill_like", cuda, &FillLikeKernel, 0);
  table.Add("fleet.increment", cuda, {DataType::kI64}, &IncrementKernel);
  table.Add("fleet.lr_schedule", cuda, {DataType::kI64}, &LrScheduleKernel);
  table.AddAnyType("fleet.memcpy", cuda, &MemcpyKernel, /*key_input=*/0);
  KernelTraits copy = KernelTraits::Aliases({{0, 0}});
  copy.inputs_anywhere = true;
  table.SetTraits("fleet.memcpy", cuda, std::move(copy));
}

}  // namespace fleet::cuda
