// Cast and CastLike on the GPU between f32 and f16, the casts of mixed-precision training (the
// amp pass's): f32 -> f16 rounds to nearest even (inf beyond f16's range), f16 -> f32 is exact,
// as in kernels/cpu/cast.cc. A cast to the input's own type hands the input back (declared as
// an alias, like the CPU's). The `to` attribute is read and checked with the CPU's words; other
// dtype pairs are UNIMPLEMENTED here (the CPU kernel has them).
#include "kernels/cpu/cast.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "ir/status_macros.h"
#include "kernels/cuda/groups.h"
#include "kernels/cuda/kernel_util.h"
#include "kernels/cuda/launch.h"

namespace fleet::cuda {
namespace {

absl::Status CastTo(KernelContext& ctx, DataType to) {
  const Tensor& x = ctx.input(0);
  if (x.dtype() == to) {
    ctx.SetOutput(0, x);  // nothing to convert: share the buffer
    return absl::OkStatus();
  }
  const bool narrow = x.dtype() == DataType::kF32 && to == DataType::kF16;
  const bool widen = x.dtype() == DataType::kF16 && to == DataType::kF32;
  if (!narrow && !widen) {
    return ctx.Unimplemented(absl::StrCat("no CUDA cast from ", DataTypeName(x.dtype()), " to ",
                                          DataTypeName(to), "; have f32 <-> f16"));
  }
  Tensor* y = ctx.Output(0, to, x.shape());
  const cudaError_t launched =
      narrow ? LaunchFloatToHalf(x.data<float>(), y->data<uint16_t>(), x.numel(), Stream(ctx))
             : LaunchHalfToFloat(x.data<uint16_t>(), y->data<float>(), x.numel(), Stream(ctx));
  return Launched(ctx, launched, "cast kernel");
}

absl::Status CastKernel(KernelContext& ctx) {
  FLEET_ASSIGN_OR_RETURN(const DataType to, cpu::CastTarget(ctx));
  return CastTo(ctx, to);
}

absl::Status CastLikeKernel(KernelContext& ctx) {
  if (!ctx.has_input(1)) return ctx.InvalidArgument("missing input 'target_type'");
  return CastTo(ctx, ctx.input(1).dtype());
}

}  // namespace

void RegisterCastKernels(KernelTable& table) {
  const Device cuda = Device::kCuda;
  table.Add("Cast", cuda, {DataType::kF32, DataType::kF16}, &CastKernel);
  table.Add("CastLike", cuda, {DataType::kF32, DataType::kF16}, &CastLikeKernel);
  // A cast to the input's own type returns the input.
  table.SetTraits("Cast", cuda, KernelTraits::Aliases({{0, 0}}));
  table.SetTraits("CastLike", cuda, KernelTraits::Aliases({{0, 0}}));
}

}  // namespace fleet::cuda
