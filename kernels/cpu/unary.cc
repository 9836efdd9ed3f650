// Unary math CPU kernels: Exp, Log, Sqrt, Erf, Neg, Abs, Reciprocal, Floor, Ceil, Round, Sign,
// the trigonometric and hyperbolic functions, Not, IsNaN and IsInf. Activations and Clip are
// in activation.cc, Cast and CastLike in cast.cc; RegisterUnaryKernels registers all three.
//
// Float ops run on f32, f64 and f16 (computed in f32); Neg, Abs and Sign also on integers.
// Round is half to even (std::nearbyint in the default rounding mode), as ONNX specifies.
// Exp, Log and Erf on f32 (and f16) use the vectorised approximations of vec_math.h (<= 1 ulp).
#include <cmath>
#include <string>
#include <type_traits>

#include "absl/strings/str_cat.h"
#include "kernels/cpu/elementwise_util.h"
#include "kernels/cpu/groups.h"
#include "kernels/cpu/unary_util.h"
#include "kernels/cpu/vec_math.h"

namespace fleet::cpu {
namespace {

using DT = DataType;

// A stateless float op: y = expr(x). Always inlined into the map loop, which GCC otherwise
// leaves as a call per element (no vectorising) once the body is a vec_math.h polynomial.
#define FLEET_FLOAT_UNARY_OP(Name, expr)       \
  struct Name : FloatOnly {                    \
    explicit Name(const KernelContext&) {}     \
    template <typename T>                      \
    FLEET_VEC_INLINE T operator()(T x) const { \
      return expr;                             \
    }                                          \
  };

FLEET_FLOAT_UNARY_OP(ExpOp, VecExp(x))
FLEET_FLOAT_UNARY_OP(LogOp, VecLog(x))
FLEET_FLOAT_UNARY_OP(SqrtOp, std::sqrt(x))
FLEET_FLOAT_UNARY_OP(ErfOp, VecErf(x))
FLEET_FLOAT_UNARY_OP(ReciprocalOp, static_cast<T>(1) / x)
FLEET_FLOAT_UNARY_OP(FloorOp, std::floor(x))
FLEET_FLOAT_UNARY_OP(CeilOp, std::ceil(x))
FLEET_FLOAT_UNARY_OP(RoundOp, std::nearbyint(x))
FLEET_FLOAT_UNARY_OP(SinOp, std::sin(x))
FLEET_FLOAT_UNARY_OP(CosOp, std::cos(x))
FLEET_FLOAT_UNARY_OP(TanOp, std::tan(x))
FLEET_FLOAT_UNARY_OP(AsinOp, std::asin(x))
FLEET_FLOAT_UNARY_OP(AcosOp, std::acos(x))
FLEET_FLOAT_UNARY_OP(AtanOp, std::atan(x))
FLEET_FLOAT_UNARY_OP(SinhOp, std::sinh(x))
FLEET_FLOAT_UNARY_OP(CoshOp, std::cosh(x))
FLEET_FLOAT_UNARY_OP(AsinhOp, std::asinh(x))
FLEET_FLOAT_UNARY_OP(AcoshOp, std::acosh(x))
FLEET_FLOAT_UNARY_OP(AtanhOp, std::atanh(x))

#undef FLEET_FLOAT_UNARY_OP

// Negation through the unsigned type so that the most negative integer wraps instead of
// overflowing (what the hardware, and NumPy, do).
template <typename T>
T Negate(T x) {
  if constexpr (std::is_integral_v<T>) {
    return static_cast<T>(0 - static_cast<std::make_unsigned_t<T>>(x));
  } else {
    return -x;
  }
}

struct NegOp : SignedToo {
  explicit NegOp(const KernelContext&) {}
  template <typename T>
  T operator()(T x) const {
    return Negate(x);
  }
};
struct AbsOp : IntegersToo {
  explicit AbsOp(const KernelContext&) {}
  template <typename T>
  T operator()(T x) const {
    if constexpr (std::is_floating_point_v<T>) {
      return std::fabs(x);
    } else {
      return x < 0 ? Negate(x) : x;
    }
  }
};
struct SignOp : IntegersToo {
  explicit SignOp(const KernelContext&) {}
  template <typename T>
  T operator()(T x) const {
    if constexpr (std::is_floating_point_v<T>) {
      if (std::isnan(x)) return x;
    }
    return static_cast<T>((x > 0) - (x < 0));
  }
};

absl::Status NotKernel(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  if (x.dtype() != DT::kBool) {
    return ctx.InvalidArgument(absl::StrCat("input is ", x.TypeString(), "; expected bool"));
  }
  Tensor* y = ctx.Output(0, DT::kBool, x.shape());
  const bool* px = x.data<bool>();
  bool* py = y->data<bool>();
  ctx.ParallelFor(x.numel(), kElementwiseGrain, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) py[i] = !px[i];
  });
  return absl::OkStatus();
}

// y[i] = pred(x[i]) as bool, for float inputs (f16 converted per element).
template <typename Pred>
absl::Status FloatPredicate(KernelContext& ctx, const Pred& pred) {
  const Tensor& x = ctx.input(0);
  Tensor* y = ctx.Output(0, DT::kBool, x.shape());
  bool* py = y->data<bool>();
  auto run = [&](const auto* px, auto convert) {
    ctx.ParallelFor(x.numel(), kElementwiseGrain, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) py[i] = pred(convert(px[i]));
    });
  };
  switch (x.dtype()) {
    case DT::kF32:
      run(x.data<float>(), [](float v) { return static_cast<double>(v); });
      break;
    case DT::kF64:
      run(x.data<double>(), [](double v) { return v; });
      break;
    case DT::kF16:
      run(x.data<uint16_t>(), [](uint16_t v) { return static_cast<double>(HalfToFloat(v)); });
      break;
    default:
      return ctx.Unimplemented(absl::StrCat("no CPU implementation for input dtype ",
                                            std::string(DataTypeName(x.dtype()))));
  }
  return absl::OkStatus();
}

absl::Status IsNaNKernel(KernelContext& ctx) {
  return FloatPredicate(ctx, [](double v) { return std::isnan(v); });
}

absl::Status IsInfKernel(KernelContext& ctx) {
  const bool negative = ctx.GetInt("detect_negative", 1) != 0;
  const bool positive = ctx.GetInt("detect_positive", 1) != 0;
  return FloatPredicate(ctx, [negative, positive](double v) {
    return std::isinf(v) && (v > 0 ? positive : negative);
  });
}

}  // namespace

void RegisterUnaryKernels(KernelTable& table) {
  const Device cpu = Device::kCpu;
  const std::vector<DT> floats = {DT::kF32, DT::kF64, DT::kF16};
  table.Add("Exp", cpu, floats, &UnaryKernel<ExpOp>);
  table.Add("Log", cpu, floats, &UnaryKernel<LogOp>);
  table.Add("Sqrt", cpu, floats, &UnaryKernel<SqrtOp>);
  table.Add("Erf", cpu, floats, &UnaryKernel<ErfOp>);
  table.Add("Reciprocal", cpu, floats, &UnaryKernel<ReciprocalOp>);
  table.Add("Floor", cpu, floats, &UnaryKernel<FloorOp>);
  table.Add("Ceil", cpu, floats, &UnaryKernel<CeilOp>);
  table.Add("Round", cpu, floats, &UnaryKernel<RoundOp>);
  table.Add("Sin", cpu, floats, &UnaryKernel<SinOp>);
  table.Add("Cos", cpu, floats, &UnaryKernel<CosOp>);
  table.Add("Tan", cpu, floats, &UnaryKernel<TanOp>);
  table.Add("Asin", cpu, floats, &UnaryKernel<AsinOp>);
  table.Add("Acos", cpu, floats, &UnaryKernel<AcosOp>);
  table.Add("Atan", cpu, floats, &UnaryKernel<AtanOp>);
  table.Add("Sinh", cpu, floats, &UnaryKernel<SinhOp>);
  table.Add("Cosh", cpu, floats, &UnaryKernel<CoshOp>);
  table.Add("Asinh", cpu, floats, &UnaryKernel<AsinhOp>);
  table.Add("Acosh", cpu, floats, &UnaryKernel<AcoshOp>);
  table.Add("Atanh", cpu, floats, &UnaryKernel<AtanhOp>);

  const std::vector<DT> signed_types = {DT::kF32, DT::kF64, DT::kF16, DT::kI64, DT::kI32, DT::kI8};
  std::vector<DT> numeric = signed_types;
  numeric.push_back(DT::kU8);
  table.Add("Neg", cpu, signed_types, &UnaryKernel<NegOp>);
  table.Add("Abs", cpu, numeric, &UnaryKernel<AbsOp>);
  table.Add("Sign", cpu, numeric, &UnaryKernel<SignOp>);

  table.Add("Not", cpu, {DT::kBool}, &NotKernel);
  table.Add("IsNaN", cpu, floats, &IsNaNKernel);
  table.Add("IsInf", cpu, floats, &IsInfKernel);

  RegisterActivationKernels(table);
  RegisterCastKernels(table);
}

}  // namespace fleet::cpu
