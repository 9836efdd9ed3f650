// fleet.multi_update on the CPU: the single update's kernel, parameter after parameter, each on
// its own slice of the op's operands, so the results are the unfused program's to the bit.
#include "kernels/cpu/multi_update.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "ir/status_macros.h"
#include "kernels/cpu/groups.h"

namespace fleet::cpu {

absl::StatusOr<MultiUpdateShape> MultiUpdateShapeOf(const KernelContext& ctx) {
  const std::string update = ctx.GetString("update", "");
  MultiUpdateShape shape;
  shape.layout = FindUpdateLayout(update);
  if (shape.layout == nullptr) {
    return ctx.InvalidArgument(
        absl::StrCat("attribute update=\"", update, "\"; expected one of ", UpdateTypeNames()));
  }
  shape.states = static_cast<int>(shape.layout->state_inputs.size());
  const int per_param = shape.states + 2;
  const int operands = ctx.num_inputs() - 1;
  shape.params = operands / per_param;
  if (operands < per_param || operands % per_param != 0 ||
      ctx.num_outputs() != shape.params * (shape.states + 1)) {
    return ctx.InvalidArgument(
        absl::StrCat(ctx.num_inputs(), " inputs and ", ctx.num_outputs(), " outputs; ", update,
                     " takes ", per_param, " inputs per parameter (the parameter, ", shape.states,
                     " state, the gradient) and the learning rate, and gives ", shape.states + 1,
                     " outputs per parameter"));
  }
  return shape;
}

std::vector<const Tensor*> SingleUpdateInputs(const KernelContext& ctx,
                                              const MultiUpdateShape& shape, int i) {
  const UpdateLayout& layout = *shape.layout;
  const int n = shape.params, s = shape.states;
  std::vector<const Tensor*> inputs(layout.num_inputs, nullptr);
  inputs[0] = &ctx.input(i);
  inputs[1] = &ctx.input(n + n * s + i);
  inputs[layout.lr_input] = &ctx.input(n * (s + 2));
  for (int k = 0; k < s; ++k) inputs[layout.state_inputs[k]] = &ctx.input(n + i * s + k);
  return inputs;
}

namespace {

absl::Status MultiUpdateKernel(KernelContext& ctx) {
  FLEET_ASSIGN_OR_RETURN(const MultiUpdateShape shape, MultiUpdateShapeOf(ctx));
  const UpdateLayout& layout = *shape.layout;
  const int n = shape.params, s = shape.states;
  if (!ctx.has_input(0)) return ctx.InvalidArgument("input 'Param' 0 is missing");
  const KernelFn update = SingleUpdateKernel(layout.type, ctx.input(0).dtype());
  if (update == nullptr) {
    return ctx.Unimplemented(absl::StrCat(layout.type, " of ", ctx.input(0).TypeString()));
  }
  AttrMap attrs;
  for (const char* name : layout.attrs) {
    if (!ctx.HasAttr(name)) continue;
    attrs[name] = std::string_view(name) == "use_nesterov" ? AttrValue(ctx.GetInt(name, 0))
                                                           : AttrValue(ctx.GetFloat(name, 0.0f));
  }
  for (int i = 0; i < n; ++i) {
    std::vector<Tensor> outputs(s + 1);
    const std::string description =
        absl::StrCat(std::string(ctx.op_description()), ", parameter ", i);
    if (ctx.input(i).dtype() != ctx.input(0).dtype()) {
      return ctx.InvalidArgument(absl::StrCat("parameter ", i, " is ", ctx.input(i).TypeString(),
                                              "; expected the dtype of parameter 0, ",
                                              ctx.input(0).TypeString()));
    }
    KernelContext single(description, &attrs, SingleUpdateInputs(ctx, shape, i), &outputs,
                         ctx.pool(), KernelRunInfo{nullptr, 0, &ctx.device(), &ctx.env()});
    FLEET_RETURN_IF_ERROR(update(single));
    ctx.SetOutput(i, std::move(outputs[0]));
    for (int k = 0; k < s; ++k) ctx.SetOutput(n + i * s + k, std::move(outputs[k + 1]));
  }
  return absl::OkStatus();
}

// The most operands a multi_update may have in place.
constexpr int kMaxMultiUpdateInPlace = 1 << 14;

}  // namespace

KernelTraits MultiUpdateTraits() {
  std::vector<std::pair<int, int>> in_place;
  for (int j = 0; j < kMaxMultiUpdateInPlace; ++j) in_place.emplace_back(j, j);
  return KernelTraits::InPlace(std::move(in_place));
}

void RegisterMultiUpdateKernels(KernelTable& table) {
  table.Add("fleet.multi_update", Device::kCpu, {DataType::kF32, DataType::kF64},
            &MultiUpdateKernel);
  table.SetTraits("fleet.multi_update", Device::kCpu, MultiUpdateTraits());
}

}  // namespace fleet::cpu
