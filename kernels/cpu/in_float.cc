#include "kernels/cpu/in_float.h"

#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "ir/status_macros.h"
#include "kernels/cpu/elementwise_util.h"

namespace fleet::cpu {

absl::Status RunInFloat(KernelContext& ctx, KernelFn f32_kernel) {
  std::vector<Tensor> widened(ctx.num_inputs());
  std::vector<const Tensor*> inputs(ctx.num_inputs(), nullptr);
  DataType half = DataType::kUndefined;  // the 16-bit type of the op: its outputs' type
  for (int i = 0; i < ctx.num_inputs(); ++i) {
    if (!ctx.has_input(i)) continue;
    const Tensor& x = ctx.input(i);
    if (x.dtype() != DataType::kF16 && x.dtype() != DataType::kBF16) {
      inputs[i] = &x;
      continue;
    }
    if (half != DataType::kUndefined && x.dtype() != half) {
      return ctx.InvalidArgument(absl::StrCat("input ", i, " is ", x.TypeString(), "; expected ",
                                              std::string(DataTypeName(half)),
                                              " like the op's other 16-bit inputs"));
    }
    half = x.dtype();
    if (x.is_sparse_rows()) {
      return ctx.Unimplemented(
          absl::StrCat("input ", i, " is ", std::string(DataTypeName(half)), " sparse rows"));
    }
    widened[i] = HalfToFloatTensor(ctx, x);
    inputs[i] = &widened[i];
  }
  std::vector<Tensor> outputs(ctx.num_outputs());
  KernelContext f32 = ctx.Delegate(std::move(inputs), &outputs);
  FLEET_RETURN_IF_ERROR(f32_kernel(f32));
  for (int i = 0; i < ctx.num_outputs(); ++i) {
    Tensor& y = outputs[i];
    if (!y.defined()) continue;
    ctx.SetOutput(i, y.dtype() == DataType::kF32 ? FloatToHalfTensor(ctx, y, half) : std::move(y));
  }
  return absl::OkStatus();
}

}  // namespace fleet::cpu
