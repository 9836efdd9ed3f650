// Variadic elementwise CPU kernels with NumPy broadcasting: Sum, Mean, Min, Max.
//
// The inputs are folded left to right into an accumulator: acc = in0 op in1, then acc op in2,
// ... (in place whenever the accumulator already has the final broadcast shape). Min and Max
// propagate NaN like numpy.minimum / numpy.maximum. f16 inputs are computed in f32.
#include <cmath>
#include <string>
#include <type_traits>
#include <vector>

#include "absl/strings/str_cat.h"
#include "ir/status_macros.h"
#include "kernels/cpu/broadcast.h"
#include "kernels/cpu/elementwise_util.h"

namespace fleet::cpu {
namespace {

using DT = DataType;

struct SumOp {
  template <typename T>
  T operator()(T a, T b) const {
    return static_cast<T>(a + b);
  }
};
struct MinOp {
  template <typename T>
  T operator()(T a, T b) const {
    if constexpr (std::is_floating_point_v<T>) {
      if (std::isnan(a)) return a;
      if (std::isnan(b)) return b;
    }
    return b < a ? b : a;
  }
};
struct MaxOp {
  template <typename T>
  T operator()(T a, T b) const {
    if constexpr (std::is_floating_point_v<T>) {
      if (std::isnan(a)) return a;
      if (std::isnan(b)) return b;
    }
    return a < b ? b : a;
  }
};

// Folds the inputs (already of element type T) with op; returns the result tensor.
template <typename T, typename Op>
absl::StatusOr<Tensor> Fold(const KernelContext& ctx, const std::vector<Tensor>& inputs,
                            DataType dtype) {
  const Op op;
  if (inputs.size() == 1) return inputs[0].Clone();
  Tensor acc;
  for (size_t i = 1; i < inputs.size(); ++i) {
    const Tensor& a = i == 1 ? inputs[0] : acc;
    const Tensor& b = inputs[i];
    auto plan = MakeBroadcastPlan({a.shape(), b.shape()});
    if (!plan.ok()) {
      return ctx.InvalidArgument(
          absl::StrCat("input ", i, ": ", std::string(plan.status().message())));
    }
    // Reuse the accumulator when it already has the output shape (it is read at the same
    // index it is written).
    Tensor out = (i > 1 && plan->out_shape == acc.shape()) ? acc : Tensor(dtype, plan->out_shape);
    BroadcastBinary(ctx, *plan, a.data<T>(), b.data<T>(), out.data<T>(),
                    [&op](T x, T y) { return op(x, y); });
    acc = std::move(out);
  }
  return acc;
}

template <typename T>
void DivideInPlace(const KernelContext& ctx, Tensor& t, T divisor) {
  T* p = t.data<T>();
  ctx.ParallelFor(t.numel(), kElementwiseGrain, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) p[i] = p[i] / divisor;
  });
}

// kMean: Sum, then divide by the input count.
template <typename Op, bool kMean = false>
absl::Status VariadicKernel(KernelContext& ctx) {
  const int n = ctx.num_inputs();
  if (n < 1 || !ctx.has_input(0)) return ctx.InvalidArgument("expected at least one input");
  std::vector<Tensor> inputs;
  for (int i = 0; i < n; ++i) {
    if (!ctx.has_input(i)) return ctx.InvalidArgument(absl::StrCat("input ", i, " is absent"));
    FLEET_RETURN_IF_ERROR(CheckSameDtype(ctx, i));
    inputs.push_back(ctx.input(i));
  }
  const DT dtype = inputs[0].dtype();
  absl::StatusOr<Tensor> y;
  switch (dtype) {
    case DT::kF32:
      y = Fold<float, Op>(ctx, inputs, dtype);
      break;
    case DT::kF64:
      y = Fold<double, Op>(ctx, inputs, dtype);
      break;
    case DT::kI64:
      y = Fold<int64_t, Op>(ctx, inputs, dtype);
      break;
    case DT::kI32:
      y = Fold<int32_t, Op>(ctx, inputs, dtype);
      break;
    case DT::kI8:
      y = Fold<int8_t, Op>(ctx, inputs, dtype);
      break;
    case DT::kU8:
      y = Fold<uint8_t, Op>(ctx, inputs, dtype);
      break;
    case DT::kF16: {
      for (Tensor& t : inputs) t = HalfToFloatTensor(ctx, t);
      y = Fold<float, Op>(ctx, inputs, DT::kF32);
      if (y.ok() && kMean) DivideInPlace<float>(ctx, *y, static_cast<float>(n));
      if (y.ok()) y = FloatToHalfTensor(ctx, *y);
      break;
    }
    default:
      return ctx.Unimplemented(
          absl::StrCat("no CPU implementation for input dtype ", std::string(DataTypeName(dtype))));
  }
  if (!y.ok()) return y.status();
  if constexpr (kMean) {
    if (dtype == DT::kF32) DivideInPlace<float>(ctx, *y, static_cast<float>(n));
    if (dtype == DT::kF64) DivideInPlace<double>(ctx, *y, static_cast<double>(n));
  }
  ctx.SetOutput(0, *std::move(y));
  return absl::OkStatus();
}

}  // namespace

void RegisterVariadicKernels(KernelTable& table) {
  const Device cpu = Device::kCpu;
  const std::vector<DT> floats = {DT::kF32, DT::kF64, DT::kF16};
  const std::vector<DT> numeric = {DT::kF32, DT::kF64, DT::kF16, DT::kI64,
                                   DT::kI32, DT::kI8,  DT::kU8};
  table.Add("Sum", cpu, floats, &VariadicKernel<SumOp>);
  table.Add("Mean", cpu, floats, &VariadicKernel<SumOp, true>);
  table.Add("Min", cpu, numeric, &VariadicKernel<MinOp>);
  table.Add("Max", cpu, numeric, &VariadicKernel<MaxOp>);
}

}  // namespace fleet::cpu
