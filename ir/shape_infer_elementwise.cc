// Shape inference of the elementwise ops: numpy broadcasting for the binary and variadic ops
// (arithmetic, comparison, logic, Where), the input's type for the unary ops and activations,
// the target dtype for Cast/CastLike, and Constant's value.
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "ir/shape_infer.h"
#include "ir/status_macros.h"

namespace fleet {
namespace {

// The first known dtype among inputs (slot, 0) of `slots`.
DataType FirstDtype(const InferContext& ctx, std::initializer_list<const char*> slots) {
  for (const char* s : slots) {
    const DataType d = ctx.InputDtype(s);
    if (d != DataType::kUndefined) return d;
  }
  return DataType::kUndefined;
}

// out = broadcast(a, b); the dtype is the operands' (`result_dtype` kUndefined) or a fixed one.
InferFn Binary(const char* a, const char* b, const char* out,
               DataType result_dtype = DataType::kUndefined) {
  return [=](InferContext& ctx) -> absl::Status {
    FLEET_ASSIGN_OR_RETURN(std::optional<Shape> shape,
                           Broadcast(ctx.InputShape(a), ctx.InputShape(b), a, b));
    const DataType dtype =
        result_dtype != DataType::kUndefined ? result_dtype : FirstDtype(ctx, {a, b});
    ctx.SetOutput(out, dtype, std::move(shape));
    return absl::OkStatus();
  };
}

// Max/Min/Mean/Sum over the variadic data_0: every input broadcast together.
InferFn Variadic(const char* out) {
  return [=](InferContext& ctx) -> absl::Status {
    const int n = ctx.NumInputs("data_0");
    std::optional<Shape> shape = n > 0 && ctx.InputShape("data_0", 0)
                                     ? std::optional<Shape>(*ctx.InputShape("data_0", 0))
                                     : std::nullopt;
    DataType dtype = DataType::kUndefined;
    for (int i = 0; i < n; ++i) {
      if (dtype == DataType::kUndefined) dtype = ctx.InputDtype("data_0", i);
      if (i == 0) continue;
      FLEET_ASSIGN_OR_RETURN(
          shape,
          Broadcast(shape ? &*shape : nullptr, ctx.InputShape("data_0", i),
                    absl::StrCat("data_0[0..", i - 1, "]"), absl::StrCat("data_0[", i, "]")));
    }
    ctx.SetOutput(out, dtype, std::move(shape));
    return absl::OkStatus();
  };
}

absl::Status InferWhere(InferContext& ctx) {
  FLEET_ASSIGN_OR_RETURN(std::optional<Shape> xy,
                         Broadcast(ctx.InputShape("X"), ctx.InputShape("Y"), "X", "Y"));
  FLEET_ASSIGN_OR_RETURN(
      std::optional<Shape> shape,
      Broadcast(ctx.InputShape("condition"), xy ? &*xy : nullptr, "condition", "X and Y"));
  ctx.SetOutput("output", FirstDtype(ctx, {"X", "Y"}), std::move(shape));
  return absl::OkStatus();
}

absl::Status InferPRelu(InferContext& ctx) {
  // slope broadcasts to X (unidirectionally): the output is X's shape.
  FLEET_ASSIGN_OR_RETURN(std::optional<Shape> shape,
                         Broadcast(ctx.InputShape("X"), ctx.InputShape("slope"), "X", "slope"));
  const Shape* x = ctx.InputShape("X");
  if (x != nullptr && shape && shape->size() != x->size()) {
    return ShapeError(absl::StrCat("input 'slope' ", DimsString(*ctx.InputShape("slope")),
                                   " has more dims than 'X' ", DimsString(*x)));
  }
  ctx.SetOutput("Y", ctx.InputType("X"));
  return absl::OkStatus();
}

absl::Status InferCast(InferContext& ctx) {
  std::optional<DataType> to = DataTypeFromOnnx(static_cast<int>(ctx.Int("to", 0)));
  TensorType t = ctx.InputType("input");
  t.dtype = to.value_or(DataType::kUndefined);
  ctx.SetOutput("output", std::move(t));
  return absl::OkStatus();
}

absl::Status InferCastLike(InferContext& ctx) {
  TensorType t = ctx.InputType("input");
  t.dtype = ctx.InputDtype("target_type");
  ctx.SetOutput("output", std::move(t));
  return absl::OkStatus();
}

absl::Status InferDropout(InferContext& ctx) {
  TensorType t = ctx.InputType("data");
  ctx.SetOutput("mask", DataType::kBool, t.shape);
  ctx.SetOutput("output", std::move(t));
  return absl::OkStatus();
}

absl::Status InferConstant(InferContext& ctx) {
  const AttrValue* v = nullptr;
  for (const char* name : {"value", "value_float", "value_floats", "value_int", "value_ints"}) {
    if ((v = ctx.OpAttr(name)) != nullptr) break;
  }
  if (v == nullptr) return absl::OkStatus();  // strings or sparse: not Fleet dtypes
  if (const TensorValue* t = std::get_if<TensorValue>(v)) {
    ctx.SetOutput("output", t->dtype, t->shape);
  } else if (std::holds_alternative<float>(*v)) {
    ctx.SetOutput("output", DataType::kF32, Shape{});
  } else if (const auto* fs = std::get_if<std::vector<float>>(v)) {
    ctx.SetOutput("output", DataType::kF32, Shape{static_cast<int64_t>(fs->size())});
  } else if (std::holds_alternative<int64_t>(*v)) {
    ctx.SetOutput("output", DataType::kI64, Shape{});
  } else if (const auto* is = std::get_if<std::vector<int64_t>>(v)) {
    ctx.SetOutput("output", DataType::kI64, Shape{static_cast<int64_t>(is->size())});
  }
  return absl::OkStatus();
}

}  // namespace

void AddElementwiseInference(InferTable& table) {
  for (const char* op : {"Add", "Sub", "Mul", "Div", "Mod", "And", "Or", "Xor"}) {
    table.emplace_back(op, Binary("A", "B", "C"));
  }
  for (const char* op : {"Equal", "Greater", "GreaterOrEqual", "Less", "LessOrEqual"}) {
    table.emplace_back(op, Binary("A", "B", "C", DataType::kBool));
  }
  table.emplace_back("Pow", Binary("X", "Y", "Z"));
  table.emplace_back("BitShift", Binary("X", "Y", "Z"));
  table.emplace_back("Max", Variadic("max"));
  table.emplace_back("Min", Variadic("min"));
  table.emplace_back("Mean", Variadic("mean"));
  table.emplace_back("Sum", Variadic("sum"));
  table.emplace_back("Where", InferWhere);
  table.emplace_back("PRelu", InferPRelu);
  for (const char* op : {"Abs",         "Acos",
                         "Acosh",       "Asin",
                         "Asinh",       "Atan",
                         "Atanh",       "Ceil",
                         "Celu",        "Clip",
                         "Cos",         "Cosh",
                         "Elu",         "Erf",
                         "Exp",         "Floor",
                         "HardSigmoid", "HardSwish",
                         "Identity",    "LeakyRelu",
                         "Log",         "Neg",
                         "Not",         "Reciprocal",
                         "Relu",        "Round",
                         "Selu",        "Shrink",
                         "Sigmoid",     "Sign",
                         "Sin",         "Sinh",
                         "Softplus",    "Softsign",
                         "Sqrt",        "Tan",
                         "Tanh",        "ThresholdedRelu"}) {
    table.emplace_back(op, SameAsFirstInput());
  }
  table.emplace_back("IsInf", SameAsFirstInput(DataType::kBool));
  table.emplace_back("IsNaN", SameAsFirstInput(DataType::kBool));
  table.emplace_back("Cast", InferCast);
  table.emplace_back("CastLike", InferCastLike);
  table.emplace_back("Dropout", InferDropout);
  table.emplace_back("Constant", InferConstant);
}

}  // namespace fleet
