// Cast and CastLike CPU kernels between all of Fleet's element types (f32, f64, f16, bf16, i64,
// i32, i8, u8, bool).
//
// Conversions follow NumPy's astype where that is defined: float -> int truncates toward zero,
// int -> narrower int wraps (two's complement), anything -> bool is `!= 0` (NaN is true), bool ->
// number is 0 or 1, f16 and bf16 go through f32 with round to nearest even. Where C++ would be
// undefined (NaN or out-of-range float -> int), Fleet saturates to the target's range and maps NaN
// to 0.
#include "kernels/cpu/cast.h"

#include <cmath>
#include <limits>
#include <string>
#include <type_traits>

#include "absl/strings/str_cat.h"
#include "executor/half.h"
#include "ir/bfloat16.h"
#include "ir/status_macros.h"
#include "kernels/cpu/broadcast.h"
#include "kernels/cpu/elementwise_util.h"

namespace fleet::cpu {
namespace {

using DT = DataType;

struct F16 {};   // tag for f16 elements, stored as uint16_t bit patterns
struct BF16 {};  // the same for bf16

template <typename T>
constexpr bool kIs16BitFloat = std::is_same_v<T, F16> || std::is_same_v<T, BF16>;

template <typename T>
using StorageOf = std::conditional_t<kIs16BitFloat<T>, uint16_t, T>;

template <typename To, typename From>
StorageOf<To> Convert(StorageOf<From> v) {
  if constexpr (std::is_same_v<From, F16>) {
    return Convert<To, float>(HalfToFloat(v));
  } else if constexpr (std::is_same_v<From, BF16>) {
    return Convert<To, float>(BFloat16ToFloat(v));
  } else if constexpr (std::is_same_v<To, F16>) {
    return FloatToHalf(static_cast<float>(v));
  } else if constexpr (std::is_same_v<To, BF16>) {
    return FloatToBFloat16(static_cast<float>(v));
  } else if constexpr (std::is_same_v<To, From>) {
    return v;
  } else if constexpr (std::is_same_v<To, bool>) {
    return v != From(0);
  } else if constexpr (std::is_floating_point_v<From> && std::is_integral_v<To>) {
    if (std::isnan(v)) return 0;
    // Both limits are exactly representable in double (powers of two or small).
    constexpr double kLo = static_cast<double>(std::numeric_limits<To>::min());
    constexpr double kHi = static_cast<double>(std::numeric_limits<To>::max());
    const double d = static_cast<double>(v);
    if (d <= kLo) return std::numeric_limits<To>::min();
    if (d >= kHi) return std::numeric_limits<To>::max();
    return static_cast<To>(v);
  } else {
    return static_cast<To>(v);
  }
}

template <typename To, typename From>
void CastTyped(const KernelContext& ctx, const Tensor& x, Tensor* y) {
  const StorageOf<From>* src = x.data<StorageOf<From>>();
  StorageOf<To>* dst = y->data<StorageOf<To>>();
  ctx.ParallelFor(x.numel(), kElementwiseGrain, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) dst[i] = Convert<To, From>(src[i]);
  });
}

template <typename From>
bool CastFrom(const KernelContext& ctx, const Tensor& x, Tensor* y) {
  switch (y->dtype()) {
    case DT::kF32:
      CastTyped<float, From>(ctx, x, y);
      return true;
    case DT::kF64:
      CastTyped<double, From>(ctx, x, y);
      return true;
    case DT::kF16:
      CastTyped<F16, From>(ctx, x, y);
      return true;
    case DT::kBF16:
      CastTyped<BF16, From>(ctx, x, y);
      return true;
    case DT::kI64:
      CastTyped<int64_t, From>(ctx, x, y);
      return true;
    case DT::kI32:
      CastTyped<int32_t, From>(ctx, x, y);
      return true;
    case DT::kI8:
      CastTyped<int8_t, From>(ctx, x, y);
      return true;
    case DT::kU8:
      CastTyped<uint8_t, From>(ctx, x, y);
      return true;
    case DT::kBool:
      CastTyped<bool, From>(ctx, x, y);
      return true;
    default:
      return false;
  }
}

absl::Status CastTo(KernelContext& ctx, DataType to) {
  const Tensor& x = ctx.input(0);
  if (x.dtype() == to) {
    ctx.SetOutput(0, x);  // nothing to convert: share the buffer
    return absl::OkStatus();
  }
  Tensor* y = ctx.Output(0, to, x.shape());
  bool ok = false;
  switch (x.dtype()) {
    case DT::kF32:
      ok = CastFrom<float>(ctx, x, y);
      break;
    case DT::kF64:
      ok = CastFrom<double>(ctx, x, y);
      break;
    case DT::kF16:
      ok = CastFrom<F16>(ctx, x, y);
      break;
    case DT::kBF16:
      ok = CastFrom<BF16>(ctx, x, y);
      break;
    case DT::kI64:
      ok = CastFrom<int64_t>(ctx, x, y);
      break;
    case DT::kI32:
      ok = CastFrom<int32_t>(ctx, x, y);
      break;
    case DT::kI8:
      ok = CastFrom<int8_t>(ctx, x, y);
      break;
    case DT::kU8:
      ok = CastFrom<uint8_t>(ctx, x, y);
      break;
    case DT::kBool:
      ok = CastFrom<bool>(ctx, x, y);
      break;
    default:
      break;
  }
  if (!ok) {
    return ctx.Unimplemented(absl::StrCat("no CPU cast from ", std::string(DataTypeName(x.dtype())),
                                          " to ", std::string(DataTypeName(to))));
  }
  return absl::OkStatus();
}

absl::Status CastKernel(KernelContext& ctx) {
  FLEET_ASSIGN_OR_RETURN(const DataType to, CastTarget(ctx));
  return CastTo(ctx, to);
}

absl::Status CastLikeKernel(KernelContext& ctx) {
  if (!ctx.has_input(1)) return ctx.InvalidArgument("missing input 'target_type'");
  return CastTo(ctx, ctx.input(1).dtype());
}

}  // namespace

absl::StatusOr<DataType> CastTarget(const KernelContext& ctx) {
  if (!ctx.HasAttr("to")) return ctx.InvalidArgument("missing required attribute 'to'");
  const int64_t onnx_to = ctx.GetInt("to", 0);
  auto to = DataTypeFromOnnx(static_cast<int>(onnx_to));
  if (!to.has_value()) {
    return ctx.Unimplemented(absl::StrCat("attribute 'to' is ONNX type ", onnx_to,
                                          ", which Fleet does not support; expected one of f32, "
                                          "f64, f16, bf16, i64, i32, i8, u8, bool"));
  }
  return *to;
}

void RegisterCastKernels(KernelTable& table) {
  table.AddAnyType("Cast", Device::kCpu, &CastKernel, /*key_input=*/0);
  table.AddAnyType("CastLike", Device::kCpu, &CastLikeKernel, /*key_input=*/0);
  // A cast to the input's own type returns the input.
  table.SetTraits("Cast", Device::kCpu, KernelTraits::Aliases({{0, 0}}));
  table.SetTraits("CastLike", Device::kCpu, KernelTraits::Aliases({{0, 0}}));
}

}  // namespace fleet::cpu
