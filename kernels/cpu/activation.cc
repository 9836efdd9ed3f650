// Activation CPU kernels (Relu, LeakyRelu, Sigmoid, Tanh, Elu, Selu, Celu, Softplus, Softsign,
// HardSigmoid, HardSwish, ThresholdedRelu, Shrink) and Clip with its optional min/max inputs.
// Attribute defaults are ONNX opset 17's. Float ops run on f32, f64 and f16 (in f32); Relu and
// Clip also on integers. Sigmoid, Tanh and Softplus on f32 (and f16) use the vectorised
// approximations of vec_math.h (<= 3 ulp).
#include <cmath>
#include <limits>
#include <string>
#include <type_traits>

#include "absl/strings/str_cat.h"
#include "executor/half.h"
#include "kernels/cpu/elementwise_util.h"
#include "kernels/cpu/unary_util.h"
#include "kernels/cpu/vec_math.h"

namespace fleet::cpu {
namespace {

using DT = DataType;

struct ReluOp : SignedToo {
  explicit ReluOp(const KernelContext&) {}
  template <typename T>
  T operator()(T x) const {
    return x > 0 ? x : T(0);
  }
};
struct LeakyReluOp : FloatOnly {
  explicit LeakyReluOp(const KernelContext& ctx) : alpha(ctx.GetFloat("alpha", 0.01f)) {}
  float alpha;
  template <typename T>
  T operator()(T x) const {
    return x < 0 ? static_cast<T>(alpha) * x : x;
  }
};
struct SigmoidOp : FloatOnly {
  explicit SigmoidOp(const KernelContext&) {}
  template <typename T>
  FLEET_VEC_INLINE T operator()(T x) const {
    return VecSigmoid(x);
  }
};
struct TanhOp : FloatOnly {
  explicit TanhOp(const KernelContext&) {}
  template <typename T>
  FLEET_VEC_INLINE T operator()(T x) const {
    return VecTanh(x);
  }
};
struct EluOp : FloatOnly {
  explicit EluOp(const KernelContext& ctx) : alpha(ctx.GetFloat("alpha", 1.0f)) {}
  float alpha;
  template <typename T>
  T operator()(T x) const {
    return x < 0 ? static_cast<T>(alpha) * std::expm1(x) : x;
  }
};
struct SeluOp : FloatOnly {
  explicit SeluOp(const KernelContext& ctx)
      : alpha(ctx.GetFloat("alpha", 1.67326319217681884765625f)),
        gamma(ctx.GetFloat("gamma", 1.05070102214813232421875f)) {}
  float alpha, gamma;
  template <typename T>
  T operator()(T x) const {
    const T g = static_cast<T>(gamma);
    return x > 0 ? g * x : g * (static_cast<T>(alpha) * std::exp(x) - static_cast<T>(alpha));
  }
};
struct CeluOp : FloatOnly {
  explicit CeluOp(const KernelContext& ctx) : alpha(ctx.GetFloat("alpha", 1.0f)) {}
  float alpha;
  template <typename T>
  T operator()(T x) const {
    const T a = static_cast<T>(alpha);
    return x > 0 ? x : a * std::expm1(x / a);
  }
};
struct SoftplusOp : FloatOnly {
  explicit SoftplusOp(const KernelContext&) {}
  template <typename T>
  FLEET_VEC_INLINE T operator()(T x) const {
    return VecSoftplus(x);
  }
};
struct SoftsignOp : FloatOnly {
  explicit SoftsignOp(const KernelContext&) {}
  template <typename T>
  T operator()(T x) const {
    return x / (T(1) + std::fabs(x));
  }
};
struct HardSigmoidOp : FloatOnly {
  explicit HardSigmoidOp(const KernelContext& ctx)
      : alpha(ctx.GetFloat("alpha", 0.2f)), beta(ctx.GetFloat("beta", 0.5f)) {}
  float alpha, beta;
  template <typename T>
  T operator()(T x) const {
    T v = static_cast<T>(alpha) * x + static_cast<T>(beta);
    return std::min(T(1), std::max(T(0), v));
  }
};
struct HardSwishOp : FloatOnly {
  explicit HardSwishOp(const KernelContext&) {}
  template <typename T>
  T operator()(T x) const {
    T v = x / T(6) + T(0.5);
    return x * std::min(T(1), std::max(T(0), v));
  }
};
struct ThresholdedReluOp : FloatOnly {
  explicit ThresholdedReluOp(const KernelContext& ctx) : alpha(ctx.GetFloat("alpha", 1.0f)) {}
  float alpha;
  template <typename T>
  T operator()(T x) const {
    return x > static_cast<T>(alpha) ? x : T(0);
  }
};
struct ShrinkOp : FloatOnly {
  explicit ShrinkOp(const KernelContext& ctx)
      : bias(ctx.GetFloat("bias", 0.0f)), lambd(ctx.GetFloat("lambd", 0.5f)) {}
  float bias, lambd;
  template <typename T>
  T operator()(T x) const {
    const T l = static_cast<T>(lambd), b = static_cast<T>(bias);
    return x < -l ? x + b : (x > l ? x - b : T(0));
  }
};

// ---- Clip(input, min?, max?) ----

// Reads element 0 of a one-element tensor as double (floats) or int64 (integers).
void ReadBound(const Tensor& t, double* f, int64_t* i) {
  switch (t.dtype()) {
    case DT::kF32:
      *f = *t.data<float>();
      break;
    case DT::kF64:
      *f = *t.data<double>();
      break;
    case DT::kF16:
      *f = HalfToFloat(*t.data<uint16_t>());
      break;
    case DT::kI64:
      *i = *t.data<int64_t>();
      break;
    case DT::kI32:
      *i = *t.data<int32_t>();
      break;
    case DT::kI8:
      *i = *t.data<int8_t>();
      break;
    case DT::kU8:
      *i = *t.data<uint8_t>();
      break;
    default:
      break;
  }
}

struct ClipOp : IntegersToo {
  explicit ClipOp(const KernelContext& ctx) {
    if (ctx.has_input(1)) ReadBound(ctx.input(1), &flo, &ilo);
    if (ctx.has_input(2)) ReadBound(ctx.input(2), &fhi, &ihi);
  }
  double flo = -std::numeric_limits<double>::infinity();
  double fhi = std::numeric_limits<double>::infinity();
  int64_t ilo = std::numeric_limits<int64_t>::min();
  int64_t ihi = std::numeric_limits<int64_t>::max();

  // max(x, lo) then min(.., hi), like numpy.clip; NaN stays NaN.
  template <typename T>
  T operator()(T x) const {
    T lo, hi;
    if constexpr (std::is_floating_point_v<T>) {
      lo = static_cast<T>(flo);
      hi = static_cast<T>(fhi);
    } else {
      // The bounds have x's dtype (checked), so only the defaults need clamping.
      lo = static_cast<T>(std::max<int64_t>(ilo, std::numeric_limits<T>::min()));
      hi = static_cast<T>(std::min<int64_t>(ihi, std::numeric_limits<T>::max()));
    }
    T y = x < lo ? lo : x;
    return hi < y ? hi : y;
  }
};

absl::Status ClipKernel(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  for (int i = 1; i <= 2; ++i) {
    if (!ctx.has_input(i)) continue;
    const Tensor& b = ctx.input(i);
    const char* name = i == 1 ? "min" : "max";
    if (b.dtype() != x.dtype()) {
      return ctx.InvalidArgument(absl::StrCat("'", name, "' is ", b.TypeString(),
                                              "; expected a scalar of the input's dtype ",
                                              std::string(DataTypeName(x.dtype()))));
    }
    if (b.numel() != 1) {
      return ctx.InvalidArgument(
          absl::StrCat("'", name, "' is ", b.TypeString(), "; expected a scalar (one element)"));
    }
  }
  return UnaryKernel<ClipOp>(ctx);
}

}  // namespace

void RegisterActivationKernels(KernelTable& table) {
  const Device cpu = Device::kCpu;
  const std::vector<DT> floats = {DT::kF32, DT::kF64, DT::kF16};
  table.Add("Relu", cpu, {DT::kF32, DT::kF64, DT::kF16, DT::kI64, DT::kI32, DT::kI8},
            &UnaryKernel<ReluOp>);
  table.Add("LeakyRelu", cpu, floats, &UnaryKernel<LeakyReluOp>);
  table.Add("Sigmoid", cpu, floats, &UnaryKernel<SigmoidOp>);
  table.Add("Tanh", cpu, floats, &UnaryKernel<TanhOp>);
  table.Add("Elu", cpu, floats, &UnaryKernel<EluOp>);
  table.Add("Selu", cpu, floats, &UnaryKernel<SeluOp>);
  table.Add("Celu", cpu, floats, &UnaryKernel<CeluOp>);
  table.Add("Softplus", cpu, floats, &UnaryKernel<SoftplusOp>);
  table.Add("Softsign", cpu, floats, &UnaryKernel<SoftsignOp>);
  table.Add("HardSigmoid", cpu, floats, &UnaryKernel<HardSigmoidOp>);
  table.Add("HardSwish", cpu, floats, &UnaryKernel<HardSwishOp>);
  table.Add("ThresholdedRelu", cpu, floats, &UnaryKernel<ThresholdedReluOp>);
  table.Add("Shrink", cpu, floats, &UnaryKernel<ShrinkOp>);
  table.Add("Clip", cpu, {DT::kF32, DT::kF64, DT::kF16, DT::kI64, DT::kI32, DT::kI8, DT::kU8},
            &ClipKernel);
}

}  // namespace fleet::cpu
