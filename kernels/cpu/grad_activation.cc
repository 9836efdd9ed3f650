// Gradient kernels of the activations and unary math ops (schemas in
// ir/fleet_grad_ops_elementwise.cc): one pass over the forward input or output and the output's
// gradient, f32 and f64.
//
// Each op is a functor `T operator()(T a, T dy)` (a: X or Out, as the schema names it) mapped by
// GradKernel in fixed blocks that GCC vectorises when the body is branch-free: the selections are
// bit operations (Pick) and f32 uses the vec_math.h exp/sigmoid, so Relu, LeakyRelu, Sigmoid,
// Tanh, Elu, Softplus and Erf gradients of f32 run as SIMD loops. Also here: fleet.clip_grad,
// fleet.dropout_grad and fleet.prelu_grad.
#include <cmath>
#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include "absl/strings/str_cat.h"
#include "ir/status_macros.h"
#include "kernels/cpu/broadcast.h"
#include "kernels/cpu/groups.h"
#include "kernels/cpu/level_loops.h"
#include "kernels/cpu/vec_math.h"

namespace fleet::cpu {
namespace {

using DT = DataType;

// c ? a : b as bit operations (see vec_internal::Select): keeps the loops if-convertible even
// when `a` is a computed value.
template <typename T>
FLEET_VEC_INLINE T Pick(bool c, T a, T b) {
  using U = std::conditional_t<sizeof(T) == 4, uint32_t, uint64_t>;
  const U m = U{0} - static_cast<U>(c);
  return __builtin_bit_cast(
      T, static_cast<U>((__builtin_bit_cast(U, a) & m) | (__builtin_bit_cast(U, b) & ~m)));
}

// ---- Functors: dx = op(a, dy). ----

struct ReluGrad {  // a = Out
  explicit ReluGrad(const KernelContext&) {}
  template <typename T>
  FLEET_VEC_INLINE T operator()(T y, T dy) const {
    return Pick(y > T(0), dy, T(0));
  }
};
struct SigmoidGrad {  // a = Out
  explicit SigmoidGrad(const KernelContext&) {}
  template <typename T>
  FLEET_VEC_INLINE T operator()(T y, T dy) const {
    return dy * y * (T(1) - y);
  }
};
struct TanhGrad {  // a = Out
  explicit TanhGrad(const KernelContext&) {}
  template <typename T>
  FLEET_VEC_INLINE T operator()(T y, T dy) const {
    return dy * (T(1) - y * y);
  }
};
struct SqrtGrad {  // a = Out
  explicit SqrtGrad(const KernelContext&) {}
  template <typename T>
  FLEET_VEC_INLINE T operator()(T y, T dy) const {
    return dy / (T(2) * y);
  }
};
struct ReciprocalGrad {  // a = Out: d(1/x) = -1/x^2 = -y^2
  explicit ReciprocalGrad(const KernelContext&) {}
  template <typename T>
  FLEET_VEC_INLINE T operator()(T y, T dy) const {
    return -dy * y * y;
  }
};
struct LeakyReluGrad {
  explicit LeakyReluGrad(const KernelContext& ctx) : alpha(ctx.GetFloat("alpha", 0.01f)) {}
  float alpha;
  template <typename T>
  FLEET_VEC_INLINE T operator()(T x, T dy) const {
    return Pick(x < T(0), static_cast<T>(alpha) * dy, dy);
  }
};
struct EluGrad {  // x < 0: alpha * exp(x)
  explicit EluGrad(const KernelContext& ctx) : alpha(ctx.GetFloat("alpha", 1.0f)) {}
  float alpha;
  template <typename T>
  FLEET_VEC_INLINE T operator()(T x, T dy) const {
    return Pick(x < T(0), dy * static_cast<T>(alpha) * VecExp(x), dy);
  }
};
struct SeluGrad {  // gamma * (x > 0 ? 1 : alpha * exp(x))
  explicit SeluGrad(const KernelContext& ctx)
      : alpha(ctx.GetFloat("alpha", 1.67326319217681884765625f)),
        gamma(ctx.GetFloat("gamma", 1.05070102214813232421875f)) {}
  float alpha, gamma;
  template <typename T>
  FLEET_VEC_INLINE T operator()(T x, T dy) const {
    const T g = static_cast<T>(gamma) * dy;
    return Pick(x > T(0), g, g * static_cast<T>(alpha) * VecExp(x));
  }
};
struct CeluGrad {  // x > 0 ? 1 : exp(x / alpha)
  explicit CeluGrad(const KernelContext& ctx) : alpha(ctx.GetFloat("alpha", 1.0f)) {}
  float alpha;
  template <typename T>
  FLEET_VEC_INLINE T operator()(T x, T dy) const {
    return Pick(x > T(0), dy, dy * VecExp(x / static_cast<T>(alpha)));
  }
};
struct HardSigmoidGrad {  // alpha where 0 < alpha x + beta < 1
  explicit HardSigmoidGrad(const KernelContext& ctx)
      : alpha(ctx.GetFloat("alpha", 0.2f)), beta(ctx.GetFloat("beta", 0.5f)) {}
  float alpha, beta;
  template <typename T>
  FLEET_VEC_INLINE T operator()(T x, T dy) const {
    const T v = static_cast<T>(alpha) * x + static_cast<T>(beta);
    return Pick((v > T(0)) & (v < T(1)), static_cast<T>(alpha) * dy, T(0));
  }
};
struct HardSwishGrad {  // x * clip(x / 6 + 1/2, 0, 1): 0 below -3, 1 above 3, x / 3 + 1/2 between
  explicit HardSwishGrad(const KernelContext&) {}
  template <typename T>
  FLEET_VEC_INLINE T operator()(T x, T dy) const {
    const T v = x / T(6) + T(0.5);
    return Pick(v <= T(0), T(0), Pick(v >= T(1), dy, dy * (x / T(3) + T(0.5))));
  }
};
struct SoftplusGrad {  // sigmoid(x)
  explicit SoftplusGrad(const KernelContext&) {}
  template <typename T>
  FLEET_VEC_INLINE T operator()(T x, T dy) const {
    return dy * VecSigmoid(x);
  }
};
struct SoftsignGrad {  // 1 / (1 + |x|)^2
  explicit SoftsignGrad(const KernelContext&) {}
  template <typename T>
  FLEET_VEC_INLINE T operator()(T x, T dy) const {
    const T d = T(1) + std::fabs(x);
    return dy / (d * d);
  }
};
struct ErfGrad {  // 2 / sqrt(pi) * exp(-x^2)
  explicit ErfGrad(const KernelContext&) {}
  template <typename T>
  FLEET_VEC_INLINE T operator()(T x, T dy) const {
    constexpr T kTwoOverSqrtPi = static_cast<T>(1.12837916709551257390);
    return dy * kTwoOverSqrtPi * VecExp(-x * x);
  }
};
struct AbsGrad {  // sign(x), 0 at 0
  explicit AbsGrad(const KernelContext&) {}
  template <typename T>
  FLEET_VEC_INLINE T operator()(T x, T dy) const {
    return Pick(x > T(0), dy, Pick(x < T(0), -dy, T(0)));
  }
};
struct SinGrad {
  explicit SinGrad(const KernelContext&) {}
  template <typename T>
  T operator()(T x, T dy) const {
    return dy * std::cos(x);
  }
};
struct CosGrad {
  explicit CosGrad(const KernelContext&) {}
  template <typename T>
  T operator()(T x, T dy) const {
    return -dy * std::sin(x);
  }
};

// dx[i] = op(a[i], dy[i]) in fixed blocks (GCC's -O2 vectoriser wants a known trip count).
namespace at_level {
template <typename T, typename Op>
FLEET_LOOP_INLINE void MapGradBlock(const Op& op, const T* __restrict a, const T* __restrict dy,
                                    T* __restrict dx, int64_t n) {
  int64_t i = 0;
  for (; i + kSpanBlock <= n; i += kSpanBlock) {
    for (int j = 0; j < kSpanBlock; ++j) dx[i + j] = op(a[i + j], dy[i + j]);
  }
  for (; i < n; ++i) dx[i] = op(a[i], dy[i]);
}
}  // namespace at_level

template <typename T, typename Op>
void MapGradBlock(const Op& op, const T* a, const T* dy, T* dx, int64_t n) {
  RunLoopAtLevel<LoopOf<&at_level::MapGradBlock<T, Op>>>(op, a, dy, dx, n);
}

// Checks that inputs `a` (0) and `dy` (1) are present and alike.
absl::Status CheckPair(const KernelContext& ctx, int a, int dy) {
  if (!ctx.has_input(a) || !ctx.has_input(dy)) {
    return ctx.InvalidArgument("needs the forward tensor and the output gradient");
  }
  const Tensor& x = ctx.input(a);
  const Tensor& g = ctx.input(dy);
  if (x.dtype() != g.dtype() || x.shape() != g.shape()) {
    return ctx.InvalidArgument(absl::StrCat("the output gradient is ", g.TypeString(),
                                            "; expected ", x.TypeString(), " like the forward"));
  }
  if (x.dtype() != DT::kF32 && x.dtype() != DT::kF64) {
    return ctx.Unimplemented(absl::StrCat("dtype ", x.TypeString(), "; have f32, f64"));
  }
  return absl::OkStatus();
}

template <typename T, typename Op>
void RunMap(const KernelContext& ctx, const Op& op, const Tensor& a, const Tensor& dy, Tensor* dx) {
  const T* pa = a.data<T>();
  const T* pg = dy.data<T>();
  T* po = dx->data<T>();
  ctx.ParallelFor(a.numel(), kElementwiseGrain,
                  [&](int64_t b, int64_t e) { MapGradBlock(op, pa + b, pg + b, po + b, e - b); });
}

template <typename Op>
absl::Status GradKernel(KernelContext& ctx) {
  FLEET_RETURN_IF_ERROR(CheckPair(ctx, 0, 1));
  const Tensor& a = ctx.input(0);
  const Op op(ctx);
  Tensor* dx = ctx.Output(0, a.dtype(), a.shape());
  if (a.dtype() == DT::kF32) {
    RunMap<float>(ctx, op, a, ctx.input(1), dx);
  } else {
    RunMap<double>(ctx, op, a, ctx.input(1), dx);
  }
  return absl::OkStatus();
}

// Element 0 of a one-element input as double.
absl::StatusOr<double> ScalarInput(const KernelContext& ctx, int i, const char* name) {
  const Tensor& t = ctx.input(i);
  if (t.numel() != 1) {
    return ctx.InvalidArgument(
        absl::StrCat("input '", name, "' is ", t.TypeString(), "; expected one element"));
  }
  switch (t.dtype()) {
    case DT::kF32:
      return static_cast<double>(*t.data<float>());
    case DT::kF64:
      return *t.data<double>();
    case DT::kBool:
      return *t.data<uint8_t>() != 0 ? 1.0 : 0.0;
    default:
      return ctx.InvalidArgument(
          absl::StrCat("input '", name, "' is ", t.TypeString(), "; expected f32, f64 or bool"));
  }
}

// Clip: the gradient passes where min <= x <= max (both ends included, like PyTorch's clamp).
struct ClipGrad {
  double lo = -INFINITY, hi = INFINITY;
  template <typename T>
  FLEET_VEC_INLINE T operator()(T x, T dy) const {
    return Pick((x >= static_cast<T>(lo)) & (x <= static_cast<T>(hi)), dy, T(0));
  }
};

absl::Status ClipGradKernel(KernelContext& ctx) {
  FLEET_RETURN_IF_ERROR(CheckPair(ctx, 0, 1));
  ClipGrad op;
  if (ctx.has_input(2)) {
    FLEET_ASSIGN_OR_RETURN(op.lo, ScalarInput(ctx, 2, "Min"));
  }
  if (ctx.has_input(3)) {
    FLEET_ASSIGN_OR_RETURN(op.hi, ScalarInput(ctx, 3, "Max"));
  }
  const Tensor& x = ctx.input(0);
  Tensor* dx = ctx.Output(0, x.dtype(), x.shape());
  if (x.dtype() == DT::kF32) {
    RunMap<float>(ctx, op, x, ctx.input(1), dx);
  } else {
    RunMap<double>(ctx, op, x, ctx.input(1), dx);
  }
  return absl::OkStatus();
}

template <typename T>
void MaskScale(const KernelContext& ctx, const T* dy, const uint8_t* mask, T scale, T* dx,
               int64_t n) {
  ctx.ParallelFor(n, kElementwiseGrain, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) dx[i] = Pick(mask[i] != 0, dy[i] * scale, T(0));
  });
}

// Dropout: dx = dy * mask / (1 - ratio) in training with ratio > 0; dy itself otherwise (the
// forward was the identity).
absl::Status DropoutGradKernel(KernelContext& ctx) {
  FLEET_RETURN_IF_ERROR(CheckPair(ctx, 0, 0));
  const Tensor& dy = ctx.input(0);
  double ratio = 0.5;
  bool training = false;
  if (ctx.has_input(2)) {
    FLEET_ASSIGN_OR_RETURN(ratio, ScalarInput(ctx, 2, "Ratio"));
  }
  if (ctx.has_input(3)) {
    FLEET_ASSIGN_OR_RETURN(double t, ScalarInput(ctx, 3, "TrainingMode"));
    training = t != 0;
  }
  if (!training || ratio == 0) {
    ctx.SetOutput(0, dy);
    return absl::OkStatus();
  }
  if (!ctx.has_input(1) || ctx.input(1).dtype() != DT::kBool ||
      ctx.input(1).shape() != dy.shape()) {
    return ctx.InvalidArgument(
        absl::StrCat("input 'Mask' must be bool shaped like the gradient ", dy.TypeString()));
  }
  if (!(ratio >= 0 && ratio < 1)) {
    return ctx.InvalidArgument(absl::StrCat("input 'Ratio' is ", ratio, "; expected [0, 1)"));
  }
  const uint8_t* mask = ctx.input(1).data<uint8_t>();
  Tensor* dx = ctx.Output(0, dy.dtype(), dy.shape());
  if (dy.dtype() == DT::kF32) {
    MaskScale(ctx, dy.data<float>(), mask, static_cast<float>(1.0 / (1.0 - ratio)),
              dx->data<float>(), dy.numel());
  } else {
    MaskScale(ctx, dy.data<double>(), mask, 1.0 / (1.0 - ratio), dx->data<double>(), dy.numel());
  }
  return absl::OkStatus();
}

// PRelu: dx = dy * (x < 0 ? slope : 1), slope broadcast to x.
template <typename T>
void PReluGradTyped(const KernelContext& ctx, const BroadcastPlan& plan, const Tensor& x,
                    const Tensor& slope, const Tensor& dy, Tensor* dx) {
  BroadcastTernary(ctx, plan, x.data<T>(), slope.data<T>(), dy.data<T>(), dx->data<T>(),
                   [](T v, T s, T g) { return Pick(v < T(0), g * s, g); });
}

absl::Status PReluGradKernel(KernelContext& ctx) {
  FLEET_RETURN_IF_ERROR(CheckPair(ctx, 0, 2));
  if (!ctx.has_input(1) || ctx.input(1).dtype() != ctx.input(0).dtype()) {
    return ctx.InvalidArgument("input 'Slope' must have the dtype of 'X'");
  }
  const Tensor& x = ctx.input(0);
  const Tensor& slope = ctx.input(1);
  const Tensor& dy = ctx.input(2);
  FLEET_ASSIGN_OR_RETURN(BroadcastPlan plan, PlanBroadcast(ctx, {&x, &slope, &dy}));
  if (plan.out_shape != x.shape()) {
    return ctx.InvalidArgument(
        absl::StrCat("slope ", slope.TypeString(), " does not broadcast to X ", x.TypeString()));
  }
  Tensor* dx = ctx.Output(0, x.dtype(), x.shape());
  if (x.dtype() == DT::kF32) {
    PReluGradTyped<float>(ctx, plan, x, slope, dy, dx);
  } else {
    PReluGradTyped<double>(ctx, plan, x, slope, dy, dx);
  }
  return absl::OkStatus();
}

}  // namespace

void RegisterGradActivationKernels(KernelTable& table) {
  const Device cpu = Device::kCpu;
  const std::vector<DT> types = {DT::kF32, DT::kF64};
  table.Add("fleet.relu_grad", cpu, types, &GradKernel<ReluGrad>);
  table.Add("fleet.sigmoid_grad", cpu, types, &GradKernel<SigmoidGrad>);
  table.Add("fleet.tanh_grad", cpu, types, &GradKernel<TanhGrad>);
  table.Add("fleet.sqrt_grad", cpu, types, &GradKernel<SqrtGrad>);
  table.Add("fleet.reciprocal_grad", cpu, types, &GradKernel<ReciprocalGrad>);
  table.Add("fleet.leaky_relu_grad", cpu, types, &GradKernel<LeakyReluGrad>);
  table.Add("fleet.elu_grad", cpu, types, &GradKernel<EluGrad>);
  table.Add("fleet.selu_grad", cpu, types, &GradKernel<SeluGrad>);
  table.Add("fleet.celu_grad", cpu, types, &GradKernel<CeluGrad>);
  table.Add("fleet.hard_sigmoid_grad", cpu, types, &GradKernel<HardSigmoidGrad>);
  table.Add("fleet.hard_swish_grad", cpu, types, &GradKernel<HardSwishGrad>);
  table.Add("fleet.softplus_grad", cpu, types, &GradKernel<SoftplusGrad>);
  table.Add("fleet.softsign_grad", cpu, types, &GradKernel<SoftsignGrad>);
  table.Add("fleet.erf_grad", cpu, types, &GradKernel<ErfGrad>);
  table.Add("fleet.abs_grad", cpu, types, &GradKernel<AbsGrad>);
  table.Add("fleet.sin_grad", cpu, types, &GradKernel<SinGrad>);
  table.Add("fleet.cos_grad", cpu, types, &GradKernel<CosGrad>);
  table.Add("fleet.clip_grad", cpu, types, &ClipGradKernel);
  table.Add("fleet.dropout_grad", cpu, types, &DropoutGradKernel);
  table.SetTraits("fleet.dropout_grad", cpu, KernelTraits::Aliases({{0, 0}}));  // inference
  table.Add("fleet.prelu_grad", cpu, types, &PReluGradKernel);
}

}  // namespace fleet::cpu
