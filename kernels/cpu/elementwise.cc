// Binary elementwise CPU kernels with NumPy broadcasting: arithmetic (Add, Sub, Mul, Div, Mod,
// Pow), comparisons (Equal, Less, ... -> bool), logic (And, Or, Xor), Where, PRelu and BitShift.
// The variadic ops (Sum, Mean, Min, Max) live in elementwise_variadic.cc.
//
// Integer semantics follow ONNX (C): Div truncates toward zero; Mod with fmod=0 takes the sign
// of the divisor (Python), with fmod=1 the sign of the dividend. Integer division or modulo by
// zero yields 0 instead of trapping. f16 inputs are computed in f32 and rounded back.
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <type_traits>

#include "absl/strings/str_cat.h"
#include "ir/status_macros.h"
#include "kernels/cpu/broadcast.h"
#include "kernels/cpu/elementwise_util.h"
#include "kernels/cpu/groups.h"

namespace fleet::cpu {
namespace {

using DT = DataType;

// ---- Per-element functors. Each is built from the context (for attributes). ----

// Integers wrap on overflow (two's complement, like NumPy and ONNX Runtime): the arithmetic is
// done in the unsigned type, where overflow is defined.
template <typename T, bool = std::is_integral_v<T> && (sizeof(T) >= sizeof(int))>
struct ArithTypeOf {
  using type = T;
};
template <typename T>
struct ArithTypeOf<T, true> {
  using type = std::make_unsigned_t<T>;
};
template <typename T>
using ArithType = typename ArithTypeOf<T>::type;

struct AddOp {
  explicit AddOp(const KernelContext&) {}
  template <typename T>
  T operator()(T a, T b) const {
    return static_cast<T>(static_cast<ArithType<T>>(a) + static_cast<ArithType<T>>(b));
  }
};
struct SubOp {
  explicit SubOp(const KernelContext&) {}
  template <typename T>
  T operator()(T a, T b) const {
    return static_cast<T>(static_cast<ArithType<T>>(a) - static_cast<ArithType<T>>(b));
  }
};
struct MulOp {
  explicit MulOp(const KernelContext&) {}
  template <typename T>
  T operator()(T a, T b) const {
    return static_cast<T>(static_cast<ArithType<T>>(a) * static_cast<ArithType<T>>(b));
  }
};
struct DivOp {
  explicit DivOp(const KernelContext&) {}
  template <typename T>
  T operator()(T a, T b) const {
    if constexpr (std::is_integral_v<T>) {
      if (b == 0) return 0;
      // INT_MIN / -1 traps on x86; -a wraps like the hardware would for every other case.
      if constexpr (std::is_signed_v<T>) {
        if (b == -1) return static_cast<T>(0 - static_cast<std::make_unsigned_t<T>>(a));
      }
    }
    return static_cast<T>(a / b);
  }
};
struct ModOp {
  explicit ModOp(const KernelContext& ctx) : fmod(ctx.GetInt("fmod", 0) != 0) {}
  bool fmod;
  template <typename T>
  T operator()(T a, T b) const {
    T r;
    if constexpr (std::is_floating_point_v<T>) {
      r = std::fmod(a, b);
    } else {
      if (b == 0) return 0;
      if constexpr (std::is_signed_v<T>) {
        if (b == -1) return 0;
      }
      r = static_cast<T>(a % b);
    }
    // Python-style modulo takes the divisor's sign.
    if (!fmod && r != 0 && ((r < 0) != (b < 0))) r = static_cast<T>(r + b);
    return r;
  }
};
struct PReluOp {
  explicit PReluOp(const KernelContext&) {}
  template <typename T>
  T operator()(T x, T slope) const {
    return x < 0 ? static_cast<T>(x * slope) : x;
  }
};

struct EqualOp {
  template <typename T>
  bool operator()(T a, T b) const {
    return a == b;
  }
};
struct LessOp {
  template <typename T>
  bool operator()(T a, T b) const {
    return a < b;
  }
};
struct GreaterOp {
  template <typename T>
  bool operator()(T a, T b) const {
    return a > b;
  }
};
struct LessOrEqualOp {
  template <typename T>
  bool operator()(T a, T b) const {
    return a <= b;
  }
};
struct GreaterOrEqualOp {
  template <typename T>
  bool operator()(T a, T b) const {
    return a >= b;
  }
};

// ---- Drivers ----

// A new tensor of dtype `out_dtype` holding op(a, b) broadcast; TO is its element type.
template <typename TO, typename T, typename Op>
absl::StatusOr<Tensor> BinaryTensor(const KernelContext& ctx, const Tensor& a, const Tensor& b,
                                    DataType out_dtype, const Op& op) {
  FLEET_ASSIGN_OR_RETURN(BroadcastPlan plan, PlanBroadcast(ctx, {&a, &b}));
  Tensor y(out_dtype, plan.out_shape);
  BroadcastBinary(ctx, plan, a.data<T>(), b.data<T>(), y.data<TO>(),
                  [&op](T x, T z) { return op(x, z); });
  return y;
}

absl::Status UnsupportedDtype(const KernelContext& ctx, const Tensor& t) {
  return ctx.Unimplemented(
      absl::StrCat("no CPU implementation for input dtype ", std::string(DataTypeName(t.dtype()))));
}

// Arithmetic: inputs and output share one numeric dtype.
template <typename Op>
absl::Status ArithKernel(KernelContext& ctx) {
  FLEET_RETURN_IF_ERROR(CheckSameDtype(ctx, 1));
  const Tensor& a = ctx.input(0);
  const Tensor& b = ctx.input(1);
  const Op op(ctx);
  absl::StatusOr<Tensor> y;
  switch (a.dtype()) {
    case DT::kF32:
      y = BinaryTensor<float, float>(ctx, a, b, a.dtype(), op);
      break;
    case DT::kF64:
      y = BinaryTensor<double, double>(ctx, a, b, a.dtype(), op);
      break;
    case DT::kI64:
      y = BinaryTensor<int64_t, int64_t>(ctx, a, b, a.dtype(), op);
      break;
    case DT::kI32:
      y = BinaryTensor<int32_t, int32_t>(ctx, a, b, a.dtype(), op);
      break;
    case DT::kI8:
      y = BinaryTensor<int8_t, int8_t>(ctx, a, b, a.dtype(), op);
      break;
    case DT::kU8:
      y = BinaryTensor<uint8_t, uint8_t>(ctx, a, b, a.dtype(), op);
      break;
    case DT::kF16: {
      y = BinaryTensor<float, float>(ctx, HalfToFloatTensor(ctx, a), HalfToFloatTensor(ctx, b),
                                     DT::kF32, op);
      if (y.ok()) y = FloatToHalfTensor(ctx, *y);
      break;
    }
    default:
      return UnsupportedDtype(ctx, a);
  }
  if (!y.ok()) return y.status();
  ctx.SetOutput(0, *std::move(y));
  return absl::OkStatus();
}

// PRelu: slope broadcasts to X (unidirectionally), so the output has X's shape.
absl::Status PReluKernel(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  const Tensor& slope = ctx.input(1);
  auto shape = BroadcastShape(x.shape(), slope.shape());
  if (shape.ok() && *shape != x.shape()) {
    return ctx.InvalidArgument(absl::StrCat("slope ", slope.TypeString(),
                                            " must broadcast to X's shape ", x.TypeString(),
                                            " (unidirectional broadcasting)"));
  }
  return ArithKernel<PReluOp>(ctx);
}

// Comparisons: inputs share a dtype, the output is bool.
template <typename Op>
absl::Status CompareKernel(KernelContext& ctx) {
  FLEET_RETURN_IF_ERROR(CheckSameDtype(ctx, 1));
  const Tensor& a = ctx.input(0);
  const Tensor& b = ctx.input(1);
  const Op op;
  absl::StatusOr<Tensor> y;
  switch (a.dtype()) {
    case DT::kF32:
      y = BinaryTensor<bool, float>(ctx, a, b, DT::kBool, op);
      break;
    case DT::kF64:
      y = BinaryTensor<bool, double>(ctx, a, b, DT::kBool, op);
      break;
    case DT::kI64:
      y = BinaryTensor<bool, int64_t>(ctx, a, b, DT::kBool, op);
      break;
    case DT::kI32:
      y = BinaryTensor<bool, int32_t>(ctx, a, b, DT::kBool, op);
      break;
    case DT::kI8:
      y = BinaryTensor<bool, int8_t>(ctx, a, b, DT::kBool, op);
      break;
    case DT::kU8:
      y = BinaryTensor<bool, uint8_t>(ctx, a, b, DT::kBool, op);
      break;
    case DT::kBool:
      y = BinaryTensor<bool, bool>(ctx, a, b, DT::kBool, op);
      break;
    case DT::kF16:
      y = BinaryTensor<bool, float>(ctx, HalfToFloatTensor(ctx, a), HalfToFloatTensor(ctx, b),
                                    DT::kBool, op);
      break;
    default:
      return UnsupportedDtype(ctx, a);
  }
  if (!y.ok()) return y.status();
  ctx.SetOutput(0, *std::move(y));
  return absl::OkStatus();
}

// And / Or / Xor on bool tensors.
template <int kWhich>
absl::Status LogicKernel(KernelContext& ctx) {
  FLEET_RETURN_IF_ERROR(CheckSameDtype(ctx, 1));
  auto op = [](bool a, bool b) {
    if constexpr (kWhich == 0) return a && b;
    if constexpr (kWhich == 1) return a || b;
    return a != b;
  };
  FLEET_ASSIGN_OR_RETURN(
      Tensor y, (BinaryTensor<bool, bool>(ctx, ctx.input(0), ctx.input(1), DT::kBool, op)));
  ctx.SetOutput(0, std::move(y));
  return absl::OkStatus();
}

// ---- Pow: base dtype T (output), exponent dtype E may differ. ----

template <typename T, typename E>
T PowOne(T base, E exp) {
  if constexpr (std::is_integral_v<T> && std::is_integral_v<E>) {
    // Exact integer power by squaring; negative exponents give 0 unless |base| is 1.
    if (exp < 0) {
      if (base == 1) return 1;
      if (base == -1) return (exp % 2 == 0) ? 1 : -1;
      return 0;
    }
    using U = std::make_unsigned_t<T>;
    U result = 1, b = static_cast<U>(base);
    for (auto e = exp; e > 0; e /= 2) {
      if (e % 2 != 0) result = static_cast<U>(result * b);
      b = static_cast<U>(b * b);
    }
    return static_cast<T>(result);
  } else if constexpr (std::is_floating_point_v<T>) {
    return std::pow(base, static_cast<T>(exp));
  } else {
    return static_cast<T>(std::pow(static_cast<double>(base), static_cast<double>(exp)));
  }
}

template <typename T, typename E>
absl::StatusOr<Tensor> PowTensor(const KernelContext& ctx, const Tensor& a, const Tensor& b) {
  FLEET_ASSIGN_OR_RETURN(BroadcastPlan plan, PlanBroadcast(ctx, {&a, &b}));
  Tensor y(a.dtype(), plan.out_shape);
  if constexpr (std::is_floating_point_v<T>) {
    // x^2 and x^0.5 are common in decomposed normalisations; keep them exact and fast.
    if (b.numel() == 1) {
      const double e = static_cast<double>(*b.data<E>());
      if (e == 2) {
        BroadcastBinary(ctx, plan, a.data<T>(), b.data<E>(), y.data<T>(),
                        [](T x, E) { return x * x; });
        return y;
      }
      if (e == 0.5) {
        BroadcastBinary(ctx, plan, a.data<T>(), b.data<E>(), y.data<T>(),
                        [](T x, E) { return std::sqrt(x); });
        return y;
      }
    }
  }
  BroadcastBinary(ctx, plan, a.data<T>(), b.data<E>(), y.data<T>(),
                  [](T x, E e) { return PowOne<T, E>(x, e); });
  return y;
}

template <typename T>
absl::StatusOr<Tensor> PowByExponent(const KernelContext& ctx, const Tensor& a, const Tensor& b) {
  switch (b.dtype()) {
    case DT::kF32:
      return PowTensor<T, float>(ctx, a, b);
    case DT::kF64:
      return PowTensor<T, double>(ctx, a, b);
    case DT::kI64:
      return PowTensor<T, int64_t>(ctx, a, b);
    case DT::kI32:
      return PowTensor<T, int32_t>(ctx, a, b);
    case DT::kI8:
      return PowTensor<T, int8_t>(ctx, a, b);
    case DT::kU8:
      return PowTensor<T, uint8_t>(ctx, a, b);
    default:
      return ctx.Unimplemented(absl::StrCat("Pow exponent dtype ",
                                            std::string(DataTypeName(b.dtype())),
                                            " is not supported; expected f32, f64 or an integer"));
  }
}

absl::Status PowKernel(KernelContext& ctx) {
  const Tensor& a = ctx.input(0);
  Tensor b = ctx.input(1);
  if (b.dtype() == DT::kF16) b = HalfToFloatTensor(ctx, b);
  absl::StatusOr<Tensor> y;
  switch (a.dtype()) {
    case DT::kF32:
      y = PowByExponent<float>(ctx, a, b);
      break;
    case DT::kF64:
      y = PowByExponent<double>(ctx, a, b);
      break;
    case DT::kI64:
      y = PowByExponent<int64_t>(ctx, a, b);
      break;
    case DT::kI32:
      y = PowByExponent<int32_t>(ctx, a, b);
      break;
    case DT::kF16:
      y = PowByExponent<float>(ctx, HalfToFloatTensor(ctx, a), b);
      if (y.ok()) y = FloatToHalfTensor(ctx, *y);
      break;
    default:
      return UnsupportedDtype(ctx, a);
  }
  if (!y.ok()) return y.status();
  ctx.SetOutput(0, *std::move(y));
  return absl::OkStatus();
}

// ---- Where(cond, X, Y): the value type only matters by size. ----

template <typename T>
void WhereTyped(const KernelContext& ctx, const BroadcastPlan& plan, const Tensor& c,
                const Tensor& x, const Tensor& y, Tensor* out) {
  BroadcastTernary(ctx, plan, c.data<bool>(), x.data<T>(), y.data<T>(), out->data<T>(),
                   [](bool cond, T a, T b) { return cond ? a : b; });
}

absl::Status WhereKernel(KernelContext& ctx) {
  const Tensor& c = ctx.input(0);
  const Tensor& x = ctx.input(1);
  const Tensor& y = ctx.input(2);
  if (c.dtype() != DT::kBool) {
    return ctx.InvalidArgument(
        absl::StrCat("condition is ", c.TypeString(), "; expected a bool tensor"));
  }
  if (x.dtype() != y.dtype()) {
    return ctx.InvalidArgument(absl::StrCat("X is ", x.TypeString(), " and Y is ", y.TypeString(),
                                            "; expected the same dtype"));
  }
  FLEET_ASSIGN_OR_RETURN(BroadcastPlan plan, PlanBroadcast(ctx, {&c, &x, &y}));
  Tensor* out = ctx.Output(0, x.dtype(), plan.out_shape);
  switch (DataTypeSize(x.dtype())) {
    case 1:
      WhereTyped<uint8_t>(ctx, plan, c, x, y, out);
      break;
    case 2:
      WhereTyped<uint16_t>(ctx, plan, c, x, y, out);
      break;
    case 4:
      WhereTyped<uint32_t>(ctx, plan, c, x, y, out);
      break;
    case 8:
      WhereTyped<uint64_t>(ctx, plan, c, x, y, out);
      break;
    default:
      return UnsupportedDtype(ctx, x);
  }
  return absl::OkStatus();
}

// ---- BitShift on unsigned integers (Fleet has u8). ----

absl::Status BitShiftKernel(KernelContext& ctx) {
  FLEET_RETURN_IF_ERROR(CheckSameDtype(ctx, 1));
  const std::string direction = ctx.GetString("direction", "");
  if (direction != "LEFT" && direction != "RIGHT") {
    return ctx.InvalidArgument(
        absl::StrCat("direction is '", direction, "'; expected \"LEFT\" or \"RIGHT\""));
  }
  const bool left = direction == "LEFT";
  auto op = [left](uint8_t x, uint8_t s) -> uint8_t {
    if (s >= 8) return 0;
    return static_cast<uint8_t>(left ? x << s : x >> s);
  };
  FLEET_ASSIGN_OR_RETURN(
      Tensor y, (BinaryTensor<uint8_t, uint8_t>(ctx, ctx.input(0), ctx.input(1), DT::kU8, op)));
  ctx.SetOutput(0, std::move(y));
  return absl::OkStatus();
}

}  // namespace

void RegisterElementwiseKernels(KernelTable& table) {
  const Device cpu = Device::kCpu;
  const std::vector<DT> numeric = {DT::kF32, DT::kF64, DT::kF16, DT::kI64,
                                   DT::kI32, DT::kI8,  DT::kU8};
  table.Add("Add", cpu, numeric, &ArithKernel<AddOp>);
  table.Add("Sub", cpu, numeric, &ArithKernel<SubOp>);
  table.Add("Mul", cpu, numeric, &ArithKernel<MulOp>);
  table.Add("Div", cpu, numeric, &ArithKernel<DivOp>);
  table.Add("Mod", cpu, numeric, &ArithKernel<ModOp>);
  table.Add("PRelu", cpu, {DT::kF32, DT::kF64, DT::kF16, DT::kI64, DT::kI32}, &PReluKernel);
  table.Add("Pow", cpu, {DT::kF32, DT::kF64, DT::kF16, DT::kI64, DT::kI32}, &PowKernel);

  std::vector<DT> with_bool = numeric;
  with_bool.push_back(DT::kBool);
  table.Add("Equal", cpu, with_bool, &CompareKernel<EqualOp>);
  table.Add("Less", cpu, numeric, &CompareKernel<LessOp>);
  table.Add("Greater", cpu, numeric, &CompareKernel<GreaterOp>);
  table.Add("LessOrEqual", cpu, numeric, &CompareKernel<LessOrEqualOp>);
  table.Add("GreaterOrEqual", cpu, numeric, &CompareKernel<GreaterOrEqualOp>);

  table.Add("And", cpu, {DT::kBool}, &LogicKernel<0>);
  table.Add("Or", cpu, {DT::kBool}, &LogicKernel<1>);
  table.Add("Xor", cpu, {DT::kBool}, &LogicKernel<2>);
  table.Add("BitShift", cpu, {DT::kU8}, &BitShiftKernel);

  // Where's dtype is that of X (input 1); the condition is always bool.
  table.AddAnyType("Where", cpu, &WhereKernel, /*key_input=*/1);

  RegisterVariadicKernels(table);
}

}  // namespace fleet::cpu
