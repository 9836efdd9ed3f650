// Optimizer updates on the GPU (f32): fleet.sgd, fleet.momentum, fleet.adam, fleet.adamw and
// fleet.adagrad, with the formulas, in-place declarations, input checks and messages of
// kernels/cpu/optimizer.cc. The learning rate and Adam's beta powers stay on the device: the
// update kernels read them there.
//
// A sparse-rows gradient (an embedding table's) is merged as the CPU merges it, repeated ids
// added up, into a scratch of the table's size, and only the rows it names are updated (the
// CPU's lazy updates). The ids stay on the device, so an id outside the table is skipped where
// the CPU kernel rejects it (the Gather that made it already gave NaN). The scratch costs one
// table's memory during the update: tables too large for that belong on parameter servers.
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/str_cat.h"
#include "ir/status_macros.h"
#include "kernels/cpu/multi_update.h"
#include "kernels/cuda/groups.h"
#include "kernels/cuda/kernel_util.h"
#include "kernels/cuda/launch.h"

namespace fleet::cuda {
namespace {

// The checks of kernels/cpu/optimizer.cc's CheckInputs (and of its sparse rows' merge).
absl::Status CheckInputs(const KernelContext& ctx, const std::vector<const char*>& names,
                         const std::vector<int>& like_param, int lr_index,
                         const std::vector<int>& scalars, int num_outputs) {
  for (int i = 0; i < static_cast<int>(names.size()); ++i) {
    if (!ctx.has_input(i)) {
      return ctx.InvalidArgument(absl::StrCat("input '", names[i], "' is missing"));
    }
  }
  if (ctx.num_outputs() < num_outputs) {
    return ctx.InvalidArgument(
        absl::StrCat("has ", ctx.num_outputs(), " outputs; expected ", num_outputs));
  }
  const Tensor& param = ctx.input(0);
  const Tensor& grad = ctx.input(1);
  if (grad.is_sparse_rows()) {
    if (grad.dtype() != param.dtype() || param.rank() == 0) {
      return ctx.InvalidArgument(absl::StrCat("input 'Grad' is ", grad.TypeString(),
                                              "; expected sparse rows of a ", param.TypeString(),
                                              " table"));
    }
    const int64_t height = param.dim(0);
    const int64_t width = height == 0 ? 0 : param.numel() / height;
    const int64_t n = grad.rows().numel();
    if (grad.sparse_height() != height || grad.rank() == 0 || grad.dim(0) != n ||
        grad.numel() != n * width || grad.rows().dtype() != DataType::kI64) {
      return ctx.InvalidArgument(absl::StrCat("input 'Grad' is ", grad.TypeString(),
                                              "; expected sparse rows of ", height, " rows of ",
                                              width, " elements"));
    }
  } else if (grad.dtype() != param.dtype() || grad.shape() != param.shape()) {
    return ctx.InvalidArgument(absl::StrCat("input 'Grad' is ", grad.TypeString(), "; expected ",
                                            param.TypeString(), " to match 'Param'"));
  }
  for (int i : like_param) {
    const Tensor& t = ctx.input(i);
    if (t.dtype() != param.dtype() || t.shape() != param.shape()) {
      return ctx.InvalidArgument(absl::StrCat("input '", names[i], "' is ", t.TypeString(),
                                              "; expected ", param.TypeString(),
                                              " to match 'Param' (hint: optimizer state has the "
                                              "parameter's dtype and shape)"));
    }
  }
  const Tensor& lr = ctx.input(lr_index);
  if (lr.dtype() != DataType::kF32 || lr.numel() != 1) {
    return ctx.InvalidArgument(absl::StrCat("input '", names[lr_index], "' is ", lr.TypeString(),
                                            "; expected a one-element f32 tensor"));
  }
  for (int i : scalars) {
    const Tensor& t = ctx.input(i);
    if (t.dtype() != param.dtype() || t.numel() != 1) {
      return ctx.InvalidArgument(absl::StrCat("input '", names[i], "' is ", t.TypeString(),
                                              "; expected a one-element ",
                                              DataTypeName(param.dtype()), " tensor"));
    }
  }
  return absl::OkStatus();
}

// The gradient as the update kernels take it: the dense input itself, or a sparse one merged
// into a scratch of the parameter's shape with the mask of the rows it names. The scratch
// lives as long as this (the allocator reuses it only after the update's stream work).
struct UpdateGrad {
  const float* values = nullptr;
  RowMask rows;
  Tensor merged, touched;
};

absl::StatusOr<UpdateGrad> GradForUpdate(const KernelContext& ctx) {
  const Tensor& param = ctx.input(0);
  const Tensor& grad = ctx.input(1);
  UpdateGrad out;
  if (!grad.is_sparse_rows()) {
    out.values = grad.data<float>();
    return out;
  }
  const int64_t height = param.dim(0);
  const int64_t width = height == 0 ? 0 : param.numel() / height;
  out.merged = Scratch(ctx, DataType::kF32, param.shape());
  out.touched = Scratch(ctx, DataType::kU8, {height});
  const cudaStream_t stream = Stream(ctx);
  FLEET_RETURN_IF_ERROR(Launched(
      ctx, cudaMemsetAsync(out.merged.raw_data(), 0, out.merged.nbytes(), stream), "cudaMemset"));
  FLEET_RETURN_IF_ERROR(Launched(
      ctx, cudaMemsetAsync(out.touched.raw_data(), 0, out.touched.nbytes(), stream), "cudaMemset"));
  FLEET_RETURN_IF_ERROR(
      Launched(ctx,
               LaunchScatterAddRows(grad.data<float>(), grad.rows().data<int64_t>(),
                                    grad.rows().numel(), width, height, out.merged.data<float>(),
                                    out.touched.data<uint8_t>(), stream),
               "sparse rows merge kernel"));
  out.values = out.merged.data<float>();
  out.rows.touched = out.touched.data<uint8_t>();
  out.rows.width = width;
  return out;
}

// The update writes into input i's buffer (declared in place) and hands it back.
float* Mutable(const KernelContext& ctx, int i) {
  return const_cast<float*>(ctx.input(i).data<float>());
}

absl::Status SgdKernel(KernelContext& ctx) {
  FLEET_RETURN_IF_ERROR(CheckInputs(ctx, {"Param", "Grad", "LearningRate"}, {}, 2, {}, 1));
  const Tensor& param = ctx.input(0);
  FLEET_ASSIGN_OR_RETURN(const UpdateGrad g, GradForUpdate(ctx));
  FLEET_RETURN_IF_ERROR(
      Launched(ctx,
               LaunchSgd(Mutable(ctx, 0), g.values, ctx.input(2).data<float>(),
                         ctx.GetFloat("weight_decay", 0.0f), param.numel(), g.rows, Stream(ctx)),
               "sgd kernel"));
  ctx.SetOutput(0, param);
  return absl::OkStatus();
}

absl::Status MomentumKernel(KernelContext& ctx) {
  FLEET_RETURN_IF_ERROR(
      CheckInputs(ctx, {"Param", "Grad", "Velocity", "LearningRate"}, {2}, 3, {}, 2));
  const Tensor& param = ctx.input(0);
  FLEET_ASSIGN_OR_RETURN(const UpdateGrad g, GradForUpdate(ctx));
  FLEET_RETURN_IF_ERROR(Launched(
      ctx,
      LaunchMomentum(Mutable(ctx, 0), Mutable(ctx, 2), g.values, ctx.input(3).data<float>(),
                     ctx.GetFloat("mu", 0.9f), ctx.GetFloat("weight_decay", 0.0f),
                     ctx.GetInt("use_nesterov", 0) != 0, param.numel(), g.rows, Stream(ctx)),
      "momentum kernel"));
  ctx.SetOutput(0, param);
  ctx.SetOutput(1, ctx.input(2));
  return absl::OkStatus();
}

template <bool kDecoupledWeightDecay>
absl::Status AdamKernel(KernelContext& ctx) {
  FLEET_RETURN_IF_ERROR(CheckInputs(
      ctx, {"Param", "Grad", "LearningRate", "Moment1", "Moment2", "Beta1Pow", "Beta2Pow"}, {3, 4},
      2, {5, 6}, 5));
  AdamParams params;
  params.beta1 = ctx.GetFloat("beta1", 0.9f);
  params.beta2 = ctx.GetFloat("beta2", 0.999f);
  params.epsilon = ctx.GetFloat("epsilon", 1e-8f);
  params.weight_decay = ctx.GetFloat("weight_decay", kDecoupledWeightDecay ? 0.01f : 0.0f);
  params.decoupled = kDecoupledWeightDecay;
  FLEET_ASSIGN_OR_RETURN(const UpdateGrad g, GradForUpdate(ctx));
  FLEET_RETURN_IF_ERROR(
      Launched(ctx,
               LaunchAdam(Mutable(ctx, 0), Mutable(ctx, 3), Mutable(ctx, 4), g.values,
                          ctx.input(2).data<float>(), Mutable(ctx, 5), Mutable(ctx, 6), params,
                          ctx.input(0).numel(), g.rows, Stream(ctx)),
               "adam kernel"));
  ctx.SetOutput(0, ctx.input(0));
  ctx.SetOutput(1, ctx.input(3));
  ctx.SetOutput(2, ctx.input(4));
  ctx.SetOutput(3, ctx.input(5));
  ctx.SetOutput(4, ctx.input(6));
  return absl::OkStatus();
}

absl::Status AdagradKernel(KernelContext& ctx) {
  FLEET_RETURN_IF_ERROR(
      CheckInputs(ctx, {"Param", "Grad", "Moment", "LearningRate"}, {2}, 3, {}, 2));
  FLEET_ASSIGN_OR_RETURN(const UpdateGrad g, GradForUpdate(ctx));
  FLEET_RETURN_IF_ERROR(
      Launched(ctx,
               LaunchAdagrad(Mutable(ctx, 0), Mutable(ctx, 2), g.values, ctx.input(3).data<float>(),
                             ctx.GetFloat("epsilon", 1e-6f), ctx.GetFloat("weight_decay", 0.0f),
                             ctx.input(0).numel(), g.rows, Stream(ctx)),
               "adagrad kernel"));
  ctx.SetOutput(0, ctx.input(0));
  ctx.SetOutput(1, ctx.input(2));
  return absl::OkStatus();
}

// What the single update op of each type checks (its CheckInputs call) and how it runs here.
struct UpdateChecks {
  const char* type;
  UpdateKind kind;
  std::vector<const char*> names;
  std::vector<int> like_param;
  int lr_index;
  std::vector<int> scalars;
  int num_outputs;
};

const UpdateChecks* ChecksOf(std::string_view type) {
  static const auto* checks = new std::vector<UpdateChecks>{
      {"fleet.sgd", UpdateKind::kSgd, {"Param", "Grad", "LearningRate"}, {}, 2, {}, 1},
      {"fleet.momentum",
       UpdateKind::kMomentum,
       {"Param", "Grad", "Velocity", "LearningRate"},
       {2},
       3,
       {},
       2},
      {"fleet.adam",
       UpdateKind::kAdam,
       {"Param", "Grad", "LearningRate", "Moment1", "Moment2", "Beta1Pow", "Beta2Pow"},
       {3, 4},
       2,
       {5, 6},
       5},
      {"fleet.adamw",
       UpdateKind::kAdam,
       {"Param", "Grad", "LearningRate", "Moment1", "Moment2", "Beta1Pow", "Beta2Pow"},
       {3, 4},
       2,
       {5, 6},
       5},
      {"fleet.adagrad",
       UpdateKind::kAdagrad,
       {"Param", "Grad", "Moment", "LearningRate"},
       {2},
       3,
       {},
       2},
  };
  for (const UpdateChecks& c : *checks) {
    if (type == c.type) return &c;
  }
  return nullptr;
}

// fleet.multi_update (ir/multi_update.h's layout): every parameter is checked as its single
// update op checks it, then the parameters go kMultiTensors to a launch.
absl::Status MultiUpdateKernel(KernelContext& ctx) {
  FLEET_ASSIGN_OR_RETURN(const cpu::MultiUpdateShape shape, cpu::MultiUpdateShapeOf(ctx));
  const UpdateLayout& layout = *shape.layout;
  const UpdateChecks* checks = ChecksOf(layout.type);
  if (checks == nullptr) return ctx.Unimplemented(absl::StrCat(layout.type, " on the GPU"));
  const int n = shape.params, s = shape.states;
  const int lr = n * (s + 2);
  MultiTensors tensors;
  for (int i = 0; i < n; ++i) {
    std::vector<Tensor> outputs(checks->num_outputs);
    const std::string description =
        absl::StrCat(std::string(ctx.op_description()), ", parameter ", i);
    const KernelContext single(description, nullptr, cpu::SingleUpdateInputs(ctx, shape, i),
                               &outputs, nullptr);
    FLEET_RETURN_IF_ERROR(CheckInputs(single, checks->names, checks->like_param, checks->lr_index,
                                      checks->scalars, checks->num_outputs));
    if (single.input(0).dtype() != DataType::kF32) {
      return single.InvalidArgument(absl::StrCat("parameter ", i, " is ",
                                                 single.input(0).TypeString(),
                                                 "; the CUDA multi_update takes f32 parameters"));
    }
    if (single.input(1).is_sparse_rows()) {
      return single.Unimplemented(
          "a sparse-rows gradient in a multi_update (fuse-optimizer leaves such updates apart)");
    }
    const int j = tensors.count++;
    tensors.p[j] = Mutable(ctx, i);
    tensors.g[j] = single.input(1).data<float>();
    tensors.n[j] = single.input(0).numel();
    for (int k = 0; k < s; ++k) tensors.state[k][j] = Mutable(ctx, n + i * s + k);
    if (tensors.count == kMultiTensors || i == n - 1) {
      const bool adamw = std::string_view(layout.type) == "fleet.adamw";
      UpdateParams params;
      params.weight_decay = ctx.GetFloat("weight_decay", 0.0f);
      params.mu = ctx.GetFloat("mu", 0.9f);
      params.nesterov = ctx.GetInt("use_nesterov", 0) != 0;
      params.epsilon = ctx.GetFloat("epsilon", 1e-6f);
      params.adam.beta1 = ctx.GetFloat("beta1", 0.9f);
      params.adam.beta2 = ctx.GetFloat("beta2", 0.999f);
      params.adam.epsilon = ctx.GetFloat("epsilon", 1e-8f);
      params.adam.weight_decay = ctx.GetFloat("weight_decay", adamw ? 0.01f : 0.0f);
      params.adam.decoupled = adamw;
      FLEET_RETURN_IF_ERROR(
          Launched(ctx,
                   LaunchMultiUpdate(checks->kind, tensors, ctx.input(lr).data<float>(), params,
                                     Stream(ctx)),
                   "multi_update kernel"));
      tensors = MultiTensors();
    }
  }
  for (int j = 0; j < n * (s + 1); ++j) ctx.SetOutput(j, ctx.input(j));
  return absl::OkStatus();
}

}  // namespace

void RegisterOptimizerKernels(KernelTable& table) {
  const Device cuda = Device::kCuda;
  table.Add("fleet.sgd", cuda, {DataType::kF32}, &SgdKernel);
  table.Add("fleet.momentum", cuda, {DataType::kF32}, &MomentumKernel);
  table.Add("fleet.adam", cuda, {DataType::kF32}, &AdamKernel<false>);
  table.Add("fleet.adamw", cuda, {DataType::kF32}, &AdamKernel<true>);
  table.Add("fleet.adagrad", cuda, {DataType::kF32}, &AdagradKernel);
  // The same {input, output} pairs as the CPU kernels: the updates write the state given.
  table.SetTraits("fleet.sgd", cuda, KernelTraits::InPlace({{0, 0}}));
  table.SetTraits("fleet.momentum", cuda, KernelTraits::InPlace({{0, 0}, {2, 1}}));
  for (const char* adam : {"fleet.adam", "fleet.adamw"}) {
    table.SetTraits(adam, cuda, KernelTraits::InPlace({{0, 0}, {3, 1}, {4, 2}, {5, 3}, {6, 4}}));
  }
  table.SetTraits("fleet.adagrad", cuda, KernelTraits::InPlace({{0, 0}, {2, 1}}));
  table.Add("fleet.multi_update", cuda, {DataType::kF32}, &MultiUpdateKernel);
  // As on the CPU: input j and output j are one buffer.
  table.SetTraits("fleet.multi_update", cuda, cpu::MultiUpdateTraits());
}

}  // namespace fleet::cuda
