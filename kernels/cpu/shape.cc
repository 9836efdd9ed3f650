// Shape kernels that never move data: Reshape, Flatten, Squeeze, Unsqueeze and Identity return
// views of their input; Shape and Size read only the input's shape. All are dtype-agnostic.
// RegisterShapeKernels also registers the data-moving shape ops of transpose.cc and
// slice_pad.cc.
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "kernels/cpu/groups.h"
#include "kernels/cpu/shape_util.h"

namespace fleet::cpu {
namespace {

absl::Status ReshapeKernel(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  FLEET_ASSIGN_OR_RETURN(std::vector<int64_t> shape, ReadInts(ctx, ctx.input(1), "shape"));
  const bool allow_zero = ctx.GetInt("allowzero", 0) != 0;
  int infer = -1;
  int64_t known = 1;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1) {
      if (infer >= 0) {
        return ctx.InvalidArgument(absl::StrCat("shape ", ShapeString(shape),
                                                " has more than one -1; expected at most one"));
      }
      infer = static_cast<int>(i);
      continue;
    }
    if (shape[i] < -1) {
      return ctx.InvalidArgument(absl::StrCat("shape ", ShapeString(shape), " has dim ", shape[i],
                                              " at index ", i, "; expected >= -1"));
    }
    if (shape[i] == 0 && !allow_zero) {
      if (static_cast<int>(i) >= x.rank()) {
        return ctx.InvalidArgument(
            absl::StrCat("shape ", ShapeString(shape), " has 0 (copy input dim) at index ", i,
                         " but the input ", x.TypeString(), " has rank ", x.rank()));
      }
      shape[i] = x.dim(static_cast<int>(i));
    }
    known *= shape[i];
  }
  if (infer >= 0) {
    if (allow_zero && known == 0) {
      return ctx.InvalidArgument(
          absl::StrCat("shape ", ShapeString(shape), " has both 0 and -1 with allowzero=1"));
    }
    if (known == 0 || x.numel() % known != 0) {
      return ctx.InvalidArgument(absl::StrCat(
          "cannot reshape ", x.TypeString(), " (", x.numel(), " elements) to ", ShapeString(shape),
          ": the known dims hold ", known, " elements, which do not divide ", x.numel()));
    }
    shape[infer] = x.numel() / known;
  } else if (known != x.numel()) {
    return ctx.InvalidArgument(absl::StrCat("cannot reshape ", x.TypeString(), " (", x.numel(),
                                            " elements) to ", ShapeString(shape), " (", known,
                                            " elements)"));
  }
  ctx.SetOutput(0, x.Reshaped(std::move(shape)));
  return absl::OkStatus();
}

absl::Status FlattenKernel(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  int64_t axis = ctx.GetInt("axis", 1);
  if (axis < -x.rank() || axis > x.rank()) {
    return ctx.InvalidArgument(absl::StrCat("axis ", axis, " is out of range for input ",
                                            x.TypeString(), "; expected [", -x.rank(), ", ",
                                            x.rank(), "]"));
  }
  if (axis < 0) axis += x.rank();
  int64_t outer = 1;
  for (int d = 0; d < axis; ++d) outer *= x.dim(d);
  int64_t inner = 1;
  for (int d = static_cast<int>(axis); d < x.rank(); ++d) inner *= x.dim(d);
  ctx.SetOutput(0, x.Reshaped({outer, inner}));
  return absl::OkStatus();
}

absl::Status SqueezeKernel(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  std::vector<bool> drop(x.rank(), false);
  if (ctx.has_input(1)) {
    FLEET_ASSIGN_OR_RETURN(std::vector<int64_t> axes, ReadInts(ctx, ctx.input(1), "axes"));
    for (int64_t a : axes) {
      FLEET_ASSIGN_OR_RETURN(int axis, NormalizeAxis(ctx, a, x.rank(), "squeeze axis"));
      if (x.dim(axis) != 1) {
        return ctx.InvalidArgument(absl::StrCat("cannot squeeze axis ", a, " of input ",
                                                x.TypeString(), ": its dim is ", x.dim(axis),
                                                "; expected 1"));
      }
      drop[axis] = true;
    }
  } else {
    for (int d = 0; d < x.rank(); ++d) drop[d] = x.dim(d) == 1;
  }
  std::vector<int64_t> shape;
  for (int d = 0; d < x.rank(); ++d) {
    if (!drop[d]) shape.push_back(x.dim(d));
  }
  ctx.SetOutput(0, x.Reshaped(std::move(shape)));
  return absl::OkStatus();
}

absl::Status UnsqueezeKernel(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  FLEET_ASSIGN_OR_RETURN(std::vector<int64_t> axes, ReadInts(ctx, ctx.input(1), "axes"));
  const int out_rank = x.rank() + static_cast<int>(axes.size());
  std::vector<bool> inserted(out_rank, false);
  for (int64_t a : axes) {
    FLEET_ASSIGN_OR_RETURN(int axis, NormalizeAxis(ctx, a, out_rank, "unsqueeze axis"));
    if (inserted[axis]) {
      return ctx.InvalidArgument(
          absl::StrCat("axes [", absl::StrJoin(axes, ","), "] name output axis ", axis, " twice"));
    }
    inserted[axis] = true;
  }
  std::vector<int64_t> shape(out_rank, 1);
  for (int d = 0, src = 0; d < out_rank; ++d) {
    if (!inserted[d]) shape[d] = x.dim(src++);
  }
  ctx.SetOutput(0, x.Reshaped(std::move(shape)));
  return absl::OkStatus();
}

absl::Status ShapeKernel(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  const int64_t rank = x.rank();
  auto clamp = [rank](int64_t v) {
    if (v < 0) v += rank;
    return std::clamp<int64_t>(v, 0, rank);
  };
  const int64_t start = clamp(ctx.GetInt("start", 0));
  const int64_t end = clamp(ctx.GetInt("end", rank));
  const int64_t n = std::max<int64_t>(0, end - start);
  Tensor* out = ctx.Output(0, DataType::kI64, {n});
  for (int64_t i = 0; i < n; ++i) out->data<int64_t>()[i] = x.shape()[start + i];
  return absl::OkStatus();
}

absl::Status SizeKernel(KernelContext& ctx) {
  *ctx.Output(0, DataType::kI64, {})->data<int64_t>() = ctx.input(0).numel();
  return absl::OkStatus();
}

absl::Status IdentityKernel(KernelContext& ctx) {
  ctx.SetOutput(0, ctx.input(0));
  return absl::OkStatus();
}

}  // namespace

void RegisterShapeKernels(KernelTable& table) {
  table.AddAnyType("Reshape", Device::kCpu, &ReshapeKernel, 0);
  table.AddAnyType("Flatten", Device::kCpu, &FlattenKernel, 0);
  table.AddAnyType("Squeeze", Device::kCpu, &SqueezeKernel, 0);
  table.AddAnyType("Unsqueeze", Device::kCpu, &UnsqueezeKernel, 0);
  table.AddAnyType("Shape", Device::kCpu, &ShapeKernel, 0);
  table.AddAnyType("Size", Device::kCpu, &SizeKernel, 0);
  table.AddAnyType("Identity", Device::kCpu, &IdentityKernel, 0);
  for (const char* view : {"Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity"}) {
    table.SetTraits(view, Device::kCpu, KernelTraits::Aliases({{0, 0}}));  // views of X
  }
  RegisterTransposeKernels(table);
  RegisterSlicePadKernels(table);
}

}  // namespace fleet::cpu
