// Cast and CastLike on the GPU between f32 and f16 or bf16, the casts of mixed-precision training
// (the amp pass's): f32 -> f16/bf16 rounds to nearest even (inf beyond f16's range), the way back
// is exact, as in kernels/cpu/cast.cc. A cast to the input's own type hands the input back
// (declared as an alias, like the CPU's). The `to` attribute is read and checked with the CPU's
// words; other dtype pairs are UNIMPLEMENTED here (the CPU kernel has them).
#include "kernels/cpu/cast.h"

#include <string>
#include <vector>

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
  auto is_half = [](DataType t) { return t == DataType::kF16 || t == DataType::kBF16; };
  const bool narrow = x.dtype() == DataType::kF32 && is_half(to);
  const bool widen = is_half(x.dtype()) && to == DataType::kF32;
  if (!narrow && !widen) {
    return ctx.Unimplemented(absl::StrCat("no CUDA cast from ", DataTypeName(x.dtype()), " to ",
                                          DataTypeName(to), "; have f32 <-> f16 and f32 <-> bf16"));
  }
  Tensor* y = ctx.Output(0, to, x.shape());
  const HalfType half = HalfTypeOf(narrow ? to : x.dtype());
  const cudaError_t launched =
      narrow
          ? LaunchFloatToHalf(half, x.data<float>(), y->data<uint16_t>(), x.numel(), Stream(ctx))
          : LaunchHalfToFloat(half, x.data<uint16_t>(), y->data<float>(), x.numel(), Stream(ctx));
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
  const std::vector<DataType> types = {DataType::kF32, DataType::kF16, DataType::kBF16};
  table.Add("Cast", cuda, types, &CastKernel);
  table.Add("CastLike", cuda, types, &CastLikeKernel);
  // A cast to the input's own type returns the input.
  table.SetTraits("Cast", cuda, KernelTraits::Aliases({{0, 0}}));
  table.SetTraits("CastLike", cuda, KernelTraits::Aliases({{0, 0}}));
}

}  // namespace fleet::cuda
