// Shape inference of the gradient ops (schemas in ir/fleet_grad_ops_*.cc). A gradient has the
// type of the forward var it belongs to: an activation's XGrad is shaped like X (and like the
// incoming OutGrad, which must agree), a layer's weight gradient like the weight, and ops whose
// input `Like` gives the shape (slice, tile, gather gradients, reshape_like) take Like's.
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "ir/shape_infer.h"
#include "ir/status_macros.h"

namespace fleet {
namespace {

// `out` is shaped like input `like`, which must be shaped like `grad` too (an elementwise
// gradient: relu_grad's Out and OutGrad).
InferFn SameAs(const char* like, const char* grad, const char* out) {
  return [=](InferContext& ctx) -> absl::Status {
    TensorType t = ctx.InputType(like);
    FLEET_ASSIGN_OR_RETURN(t.shape,
                           MergeShapes(ctx.InputShape(like), ctx.InputShape(grad), like, grad));
    if (t.dtype == DataType::kUndefined) t.dtype = ctx.InputDtype(grad);
    ctx.SetOutput(out, std::move(t));
    return absl::OkStatus();
  };
}

// Each (output, input) pair: the output has the input's type.
InferFn Like(std::vector<std::pair<const char*, const char*>> pairs) {
  return [pairs = std::move(pairs)](InferContext& ctx) -> absl::Status {
    for (const auto& [out, in] : pairs) ctx.SetOutput(out, ctx.InputType(in));
    return absl::OkStatus();
  };
}

// XGrad has Like's shape and OutGrad's dtype (slice, tile and gather gradients).
absl::Status ShapedLikeLike(InferContext& ctx) {
  TensorType t = ctx.InputType("Like");
  if (ctx.InputDtype("OutGrad") != DataType::kUndefined) t.dtype = ctx.InputDtype("OutGrad");
  ctx.SetOutput("XGrad", std::move(t));
  return absl::OkStatus();
}

absl::Status InferReshapeLike(InferContext& ctx) {
  const Shape* x = ctx.InputShape("X");
  const Shape* like = ctx.InputShape("Like");
  if (x != nullptr && like != nullptr) {
    const int64_t nx = KnownProduct(*x), nl = KnownProduct(*like);
    if (nx >= 0 && nl >= 0 && nx != nl) {
      return ShapeError(absl::StrCat("input 'X' ", DimsString(*x), " (", nx,
                                     " elements) cannot be viewed as 'Like' ", DimsString(*like),
                                     " (", nl, " elements)"));
    }
  }
  ctx.SetOutput("Out", ctx.InputDtype("X"),
                like != nullptr ? std::optional<Shape>(*like) : std::nullopt);
  return absl::OkStatus();
}

absl::Status InferConcatGrad(InferContext& ctx) {
  const std::vector<int64_t>* select = ctx.Ints("select");
  const int outputs = ctx.NumOutputs("Out");
  const int inputs = ctx.NumInputs("Inputs");
  for (int k = 0; k < outputs; ++k) {
    const int64_t i = select != nullptr && !select->empty()
                          ? (k < static_cast<int>(select->size()) ? (*select)[k] : -1)
                          : k;
    if (i < 0 || i >= inputs) {
      return ShapeError(absl::StrCat("output 'Out' ", k, " has no input to take its shape from (",
                                     inputs, " 'Inputs', attribute 'select' has ",
                                     select != nullptr ? select->size() : 0, " values)"));
    }
    TensorType t = ctx.InputType("Inputs", static_cast<int>(i));
    if (ctx.InputDtype("X") != DataType::kUndefined) t.dtype = ctx.InputDtype("X");
    ctx.SetOutput("Out", std::move(t), k);
  }
  return absl::OkStatus();
}

absl::Status InferConvGradFilter(InferContext& ctx) {
  TensorType w = ctx.InputType("W");
  std::optional<Shape> bias;
  if (w.shape && !w.shape->empty()) bias = Shape{(*w.shape)[0]};
  ctx.SetOutput("BGrad", w.dtype, std::move(bias));
  ctx.SetOutput("WGrad", std::move(w));
  return absl::OkStatus();
}

absl::Status InferBatchNormTrain(InferContext& ctx) {
  const Shape* x = ctx.InputShape("X");
  const int64_t c = x != nullptr && x->size() >= 2 ? (*x)[1] : -1;
  for (const char* slot : {"Scale", "B", "RunningMean", "RunningVar"}) {
    const Shape* s = ctx.InputShape(slot);
    if (s != nullptr && (s->size() != 1 || (c >= 0 && (*s)[0] >= 0 && (*s)[0] != c))) {
      return ShapeError(absl::StrCat("input '", slot, "' ", DimsString(*s), " must be [", c,
                                     "] for 'X' ", DimsString(*x), " (one per channel)"));
    }
  }
  ctx.SetOutput("Y", ctx.InputType("X"));
  ctx.SetOutput("RunningMeanOut", ctx.InputType("RunningMean"));
  ctx.SetOutput("RunningVarOut", ctx.InputType("RunningVar"));
  ctx.SetOutput("SavedMean", ctx.InputType("Scale"));
  ctx.SetOutput("SavedInvStd", ctx.InputType("Scale"));
  return absl::OkStatus();
}

absl::Status InferLayerNormGrad(InferContext& ctx) {
  ctx.SetOutput("XGrad", ctx.InputType("X"));
  ctx.SetOutput("ScaleGrad", ctx.InputType("Scale"));
  ctx.SetOutput("BGrad", ctx.InputType(ctx.HasInput("B") ? "B" : "Scale"));
  return absl::OkStatus();
}

}  // namespace

void AddGradOpInference(InferTable& table) {
  for (const char* op : {"relu", "sigmoid", "tanh", "sqrt", "reciprocal"}) {
    table.emplace_back(absl::StrCat("fleet.", op, "_grad"), SameAs("Out", "OutGrad", "XGrad"));
  }
  for (const char* op : {"hard_swish", "softplus", "softsign", "erf", "abs", "sin", "cos",
                         "leaky_relu", "elu", "celu", "selu", "hard_sigmoid", "clip"}) {
    table.emplace_back(absl::StrCat("fleet.", op, "_grad"), SameAs("X", "OutGrad", "XGrad"));
  }
  table.emplace_back("fleet.dropout_grad", SameAs("OutGrad", "Mask", "XGrad"));
  table.emplace_back("fleet.prelu_grad", SameAs("X", "OutGrad", "XGrad"));
  table.emplace_back("fleet.reduce_select_grad", Like({{"XGrad", "X"}}));
  table.emplace_back("fleet.softmax_grad", SameAs("Out", "OutGrad", "XGrad"));
  table.emplace_back("fleet.log_softmax_grad", SameAs("Out", "OutGrad", "XGrad"));
  table.emplace_back("fleet.softmax_ce_grad", Like({{"ScoresGrad", "Scores"}}));
  table.emplace_back("fleet.nll_loss_grad", Like({{"InputGrad", "Input"}}));
  table.emplace_back("fleet.matmul_grad_a", Like({{"AGrad", "A"}}));
  table.emplace_back("fleet.matmul_grad_b", Like({{"BGrad", "B"}}));
  table.emplace_back("fleet.conv_grad_input", Like({{"XGrad", "X"}}));
  table.emplace_back("fleet.conv_grad_filter", InferConvGradFilter);
  for (const char* op : {"fleet.max_pool_grad", "fleet.avg_pool_grad", "fleet.global_max_pool_grad",
                         "fleet.global_avg_pool_grad"}) {
    table.emplace_back(op, Like({{"XGrad", "X"}}));
  }
  table.emplace_back("fleet.batch_norm_train", InferBatchNormTrain);
  table.emplace_back("fleet.batch_norm_grad",
                     Like({{"XGrad", "X"}, {"ScaleGrad", "Scale"}, {"BGrad", "Scale"}}));
  table.emplace_back("fleet.layer_norm_grad", InferLayerNormGrad);
  table.emplace_back("fleet.reshape_like", InferReshapeLike);
  table.emplace_back("fleet.concat_grad", InferConcatGrad);
  for (const char* op : {"fleet.slice_grad", "fleet.tile_grad", "fleet.gather_grad",
                         "fleet.gather_grad_sparse", "fleet.gather_elements_grad"}) {
    table.emplace_back(op, ShapedLikeLike);
  }
}

}  // namespace fleet
