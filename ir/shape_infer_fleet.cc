// Shape inference of Fleet's own training ops (schemas in ir/fleet_ops.cc): the autodiff
// helpers (fill_like, grad_sum, reduce_to_like, expand_like), the optimizer updates (each state
// output is its input: ParamOut like Param, Moment1Out like Moment1, ...; the gradient must be
// shaped like the parameter and the learning rate hold one element), and the bookkeeping ops
// (fill_constant, increment, lr_schedule, clip_by_global_norm).
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "ir/shape_infer.h"
#include "ir/status_macros.h"

namespace fleet {
namespace {

// Out takes Like's shape and X's dtype (reduce_to_like, expand_like).
absl::Status ShapedLikeLike(InferContext& ctx) {
  TensorType t = ctx.InputType("Like");
  if (ctx.InputDtype("X") != DataType::kUndefined) t.dtype = ctx.InputDtype("X");
  ctx.SetOutput("Out", std::move(t));
  return absl::OkStatus();
}

absl::Status InferGradSum(InferContext& ctx) {
  TensorType t;
  for (int i = 0; i < ctx.NumInputs("X"); ++i) {
    if (t.dtype == DataType::kUndefined) t.dtype = ctx.InputDtype("X", i);
    if (i == 0) {
      t.shape = ctx.InputType("X", 0).shape;
      continue;
    }
    FLEET_ASSIGN_OR_RETURN(
        t.shape, MergeShapes(t.shape ? &*t.shape : nullptr, ctx.InputShape("X", i), "X[0]",
                             absl::StrCat("X[", i, "]")));
  }
  ctx.SetOutput("Out", std::move(t));
  return absl::OkStatus();
}

// An update op: each (state input, its output) pair keeps the state's type; Grad must be shaped
// like Param; LearningRate holds one element.
InferFn Update(std::vector<std::pair<const char*, const char*>> state) {
  return [state = std::move(state)](InferContext& ctx) -> absl::Status {
    FLEET_RETURN_IF_ERROR(
        MergeShapes(ctx.InputShape("Param"), ctx.InputShape("Grad"), "Param", "Grad").status());
    if (const Shape* lr = ctx.InputShape("LearningRate")) {
      const int64_t n = KnownProduct(*lr);
      if (n >= 0 && n != 1) {
        return ShapeError(absl::StrCat("input 'LearningRate' ", DimsString(*lr), " holds ", n,
                                       " elements; expected one"));
      }
    }
    for (const auto& [in, out] : state) ctx.SetOutput(out, ctx.InputType(in));
    return absl::OkStatus();
  };
}

absl::Status InferFillConstant(InferContext& ctx) {
  const std::optional<DataType> dtype = DataTypeFromName(ctx.String("dtype"));
  const std::vector<int64_t>* shape = ctx.Ints("shape");
  ctx.SetOutput("Out", dtype.value_or(DataType::kUndefined),
                shape != nullptr ? std::optional<Shape>(*shape) : std::nullopt);
  return absl::OkStatus();
}

absl::Status InferOneOutputPerInput(InferContext& ctx) {
  const int n = ctx.NumInputs("X");
  if (ctx.NumOutputs("Out") != n) {
    return ShapeError(absl::StrCat("has ", n, " inputs 'X' but ", ctx.NumOutputs("Out"),
                                   " outputs 'Out'; expected one output per input"));
  }
  for (int i = 0; i < n; ++i) ctx.SetOutput("Out", ctx.InputType("X", i), i);
  return absl::OkStatus();
}

// fleet.check_finite_and_unscale: Out[i] like X[i], and a bool[] AllFinite.
absl::Status InferCheckFiniteAndUnscale(InferContext& ctx) {
  FLEET_RETURN_IF_ERROR(InferOneOutputPerInput(ctx));
  ctx.SetOutput("AllFinite", DataType::kBool, Shape{});
  return absl::OkStatus();
}

// fleet.ps_pull_sparse: Out[i] = f32 rows shaped Ids[i].shape + [table_dim[i]].
absl::Status InferPullSparse(InferContext& ctx) {
  const int n = ctx.NumInputs("Ids");
  const std::vector<int64_t>* dims = ctx.Ints("table_dim");
  if (ctx.NumOutputs("Out") != n || dims == nullptr || static_cast<int>(dims->size()) != n) {
    return ShapeError(absl::StrCat("has ", n, " inputs 'Ids', ", ctx.NumOutputs("Out"),
                                   " outputs 'Out' and ", dims == nullptr ? 0 : dims->size(),
                                   " table_dim entries; expected as many of each"));
  }
  for (int i = 0; i < n; ++i) {
    std::optional<Shape> shape;
    if (const Shape* ids = ctx.InputShape("Ids", i)) {
      shape = *ids;
      shape->push_back((*dims)[i]);
    }
    ctx.SetOutput("Out", DataType::kF32, std::move(shape), i);
  }
  return absl::OkStatus();
}

// fleet.multi_update: ParamOut[i] like Param[i] (and Grad[i]), StateOut[j] like State[j].
absl::Status InferMultiUpdate(InferContext& ctx) {
  const int n = ctx.NumInputs("Param");
  if (ctx.NumInputs("Grad") != n || ctx.NumOutputs("ParamOut") != n ||
      ctx.NumOutputs("StateOut") != ctx.NumInputs("State") ||
      (n > 0 && ctx.NumInputs("State") % n != 0)) {
    return ShapeError(absl::StrCat(n, " parameters, ", ctx.NumInputs("Grad"), " gradients, ",
                                   ctx.NumInputs("State"), " state inputs and ",
                                   ctx.NumOutputs("StateOut"),
                                   " state outputs; expected one gradient per parameter and the "
                                   "same number of state per parameter, in and out"));
  }
  for (int i = 0; i < n; ++i) {
    FLEET_RETURN_IF_ERROR(MergeShapes(ctx.InputShape("Param", i), ctx.InputShape("Grad", i),
                                      absl::StrCat("Param[", i, "]"), absl::StrCat("Grad[", i, "]"))
                              .status());
    ctx.SetOutput("ParamOut", ctx.InputType("Param", i), i);
  }
  for (int j = 0; j < ctx.NumInputs("State"); ++j) {
    ctx.SetOutput("StateOut", ctx.InputType("State", j), j);
  }
  return absl::OkStatus();
}

}  // namespace

void AddFleetOpInference(InferTable& table) {
  table.emplace_back("fleet.fill_like", SameAsFirstInput());
  table.emplace_back("fleet.grad_sum", InferGradSum);
  table.emplace_back("fleet.reduce_to_like", ShapedLikeLike);
  table.emplace_back("fleet.expand_like", ShapedLikeLike);
  table.emplace_back("fleet.sgd", Update({{"Param", "ParamOut"}}));
  table.emplace_back("fleet.momentum",
                     Update({{"Param", "ParamOut"}, {"Velocity", "VelocityOut"}}));
  for (const char* adam : {"fleet.adam", "fleet.adamw"}) {
    table.emplace_back(adam, Update({{"Param", "ParamOut"},
                                     {"Moment1", "Moment1Out"},
                                     {"Moment2", "Moment2Out"},
                                     {"Beta1Pow", "Beta1PowOut"},
                                     {"Beta2Pow", "Beta2PowOut"}}));
  }
  table.emplace_back("fleet.adagrad", Update({{"Param", "ParamOut"}, {"Moment", "MomentOut"}}));
  table.emplace_back("fleet.multi_update", InferMultiUpdate);
  table.emplace_back("fleet.fill_constant", InferFillConstant);
  table.emplace_back("fleet.increment", SameAsFirstInput());
  table.emplace_back("fleet.lr_schedule", [](InferContext& ctx) {
    ctx.SetOutput("LearningRate", DataType::kF32, Shape{1});
    return absl::OkStatus();
  });
  table.emplace_back("fleet.clip_by_global_norm", InferOneOutputPerInput);
  // One output per input, each like its input.
  table.emplace_back("fleet.allreduce", InferOneOutputPerInput);
  table.emplace_back("fleet.broadcast", InferOneOutputPerInput);
  table.emplace_back("fleet.reduce", InferOneOutputPerInput);
  table.emplace_back("fleet.allgather_rows", SameAsFirstInput());
  table.emplace_back("fleet.ps_pull_sparse", InferPullSparse);
  table.emplace_back("fleet.check_finite_and_unscale", InferCheckFiniteAndUnscale);
  table.emplace_back("fleet.update_loss_scaling", [](InferContext& ctx) {
    ctx.SetOutput("ScaleOut", ctx.InputType("Scale"));
    ctx.SetOutput("GoodStepsOut", ctx.InputType("GoodSteps"));
    ctx.SetOutput("SkippedStepsOut", ctx.InputType("SkippedSteps"));
    return absl::OkStatus();
  });
  table.emplace_back("fleet.is_rank", [](InferContext& ctx) {
    ctx.SetOutput("Out", DataType::kBool, Shape{1});
    return absl::OkStatus();
  });
}

}  // namespace fleet
