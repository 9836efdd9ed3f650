#include "kernels/cpu/concat_plan.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "ir/status_macros.h"
#include "kernels/cpu/shape_util.h"

namespace fleet::cpu {

absl::StatusOr<ConcatPlan> PlanConcat(const KernelContext& ctx) {
  if (ctx.num_inputs() == 0 || !ctx.has_input(0)) {
    return ctx.InvalidArgument("expected at least one input");
  }
  const Tensor& first = ctx.input(0);
  const int rank = first.rank();
  if (rank == 0) return ctx.InvalidArgument("inputs are scalars; expected rank >= 1");
  FLEET_ASSIGN_OR_RETURN(int axis, NormalizeAxis(ctx, ctx.GetInt("axis", 0), rank));
  ConcatPlan plan;
  plan.out_shape = first.shape();
  plan.out_shape[axis] = 0;
  for (int i = 0; i < ctx.num_inputs(); ++i) {
    if (!ctx.has_input(i)) return ctx.InvalidArgument(absl::StrCat("input ", i, " is absent"));
    const Tensor& t = ctx.input(i);
    bool ok = t.dtype() == first.dtype() && t.rank() == rank;
    for (int d = 0; ok && d < rank; ++d) ok = d == axis || t.dim(d) == first.dim(d);
    if (!ok) {
      return ctx.InvalidArgument(absl::StrCat("input ", i, " is ", t.TypeString(), "; expected ",
                                              std::string(DataTypeName(first.dtype())), " of rank ",
                                              rank, " matching input 0 ", first.TypeString(),
                                              " except on axis ", axis));
    }
    plan.out_shape[axis] += t.dim(axis);
  }
  for (int d = 0; d < axis; ++d) plan.outer *= plan.out_shape[d];
  return plan;
}

absl::StatusOr<ConcatGradPlan> PlanConcatGrad(const KernelContext& ctx) {
  const int num_inputs = ctx.num_inputs() - 1;
  if (!ctx.has_input(0) || num_inputs < 1) {
    return ctx.InvalidArgument("needs the gradient X and at least one input");
  }
  const Tensor& x = ctx.input(0);
  if (x.rank() == 0) return ctx.InvalidArgument("gradient X is a scalar; expected rank >= 1");
  FLEET_ASSIGN_OR_RETURN(int axis, NormalizeAxis(ctx, ctx.GetInt("axis", 0), x.rank()));
  ConcatGradPlan plan;
  plan.offset.assign(num_inputs + 1, 0);
  for (int d = 0; d < axis; ++d) plan.outer *= x.dim(d);
  plan.x_row = plan.outer > 0 ? x.numel() / plan.outer : 0;
  for (int i = 0; i < num_inputs; ++i) {
    if (!ctx.has_input(i + 1)) return ctx.InvalidArgument(absl::StrCat("input ", i, " is absent"));
    const Tensor& in = ctx.input(i + 1);
    bool ok = in.rank() == x.rank();
    for (int d = 0; ok && d < x.rank(); ++d) ok = d == axis || in.dim(d) == x.dim(d);
    if (!ok) {
      return ctx.InvalidArgument(absl::StrCat("input ", i, " is ", in.TypeString(),
                                              "; expected the gradient's shape ",
                                              ShapeString(x.shape()), " except on axis ", axis));
    }
    plan.offset[i + 1] = plan.offset[i] + (plan.outer > 0 ? in.numel() / plan.outer : 0);
  }
  if (plan.offset[num_inputs] != plan.x_row) {
    return ctx.InvalidArgument(absl::StrCat("the inputs' dims on axis ", axis, " do not add up to ",
                                            "the gradient's ", x.TypeString()));
  }
  plan.select = ctx.GetInts("select", {});
  if (!ctx.HasAttr("select")) {
    for (int i = 0; i < num_inputs; ++i) plan.select.push_back(i);
  }
  if (static_cast<int>(plan.select.size()) != ctx.num_outputs()) {
    return ctx.InvalidArgument(absl::StrCat("select names ", plan.select.size(), " inputs for ",
                                            ctx.num_outputs(), " outputs; expected one each"));
  }
  for (size_t k = 0; k < plan.select.size(); ++k) {
    const int64_t i = plan.select[k];
    if (i < 0 || i >= num_inputs || (k > 0 && i <= plan.select[k - 1])) {
      return ctx.InvalidArgument(absl::StrCat("select has ", i, " at position ", k,
                                              "; expected increasing input indices below ",
                                              num_inputs));
    }
  }
  return plan;
}

}  // namespace fleet::cpu
