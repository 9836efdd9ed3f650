// Gradient rules of the elementwise arithmetic ops (Add, Sub, Mul, Div, Pow, PRelu, Where) and
// the variadic ones (Sum, Mean, Max, Min). Inputs may broadcast; their gradients are summed back
// to the input's shape (EmitBroadcastGrad, SumToInputShape).
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "ir/grad/grad_rules.h"
#include "ir/grad/grad_util.h"
#include "ir/op_schema.h"
#include "ir/status_macros.h"

namespace fleet {
namespace {

// C = A + B:  dA = dC,  dB = dC.
absl::Status AddGrad(GradBuilder& g) {
  const std::string dc = g.OutputGrad("C");
  for (const char* slot : {"A", "B"}) {
    if (g.NeedsGrad(slot)) EmitBroadcastGrad(g, slot, 0, dc, g.Output("C"));
  }
  return absl::OkStatus();
}

// C = A - B:  dA = dC,  dB = -dC (negated after summing: fewer elements).
absl::Status SubGrad(GradBuilder& g) {
  const std::string dc = g.OutputGrad("C");
  const std::string& c = g.Output("C");
  if (g.NeedsGrad("A")) EmitBroadcastGrad(g, "A", 0, dc, c);
  if (g.NeedsGrad("B")) {
    const std::string summed = SumToInputShape(g, "B", 0, dc, c);
    g.Emit("Neg", {{"X", {summed}}}, {{"Y", {g.InputGrad("B")}}});
  }
  return absl::OkStatus();
}

// C = A * B:  dA = dC * B,  dB = dC * A.
absl::Status MulGrad(GradBuilder& g) {
  const std::string dc = g.OutputGrad("C");
  const std::string& c = g.Output("C");
  if (g.NeedsGrad("A")) {
    EmitBroadcastGrad(g, "A", 0, EmitBinary(g, "Mul", dc, g.Input("B"), c, "dA"), c);
  }
  if (g.NeedsGrad("B")) {
    EmitBroadcastGrad(g, "B", 0, EmitBinary(g, "Mul", dc, g.Input("A"), c, "dB"), c);
  }
  return absl::OkStatus();
}

// C = A / B:  q = dC / B;  dA = q,  dB = -q * C (= -dC * A / B^2).
absl::Status DivGrad(GradBuilder& g) {
  const std::string& c = g.Output("C");
  const std::string q = EmitBinary(g, "Div", g.OutputGrad("C"), g.Input("B"), c, "dA");
  if (g.NeedsGrad("A")) EmitBroadcastGrad(g, "A", 0, q, c);
  if (g.NeedsGrad("B")) {
    const std::string qc = EmitBinary(g, "Mul", q, c, c, "dB");
    const std::string summed = SumToInputShape(g, "B", 0, qc, c);
    g.Emit("Neg", {{"X", {summed}}}, {{"Y", {g.InputGrad("B")}}});
  }
  return absl::OkStatus();
}

// Z = X ^ Y:  dX = dZ * Y * X^(Y - 1),  dY = dZ * Z * log(X) (X > 0 where Y needs a gradient).
absl::Status PowGrad(GradBuilder& g) {
  const std::string dz = g.OutputGrad("Z");
  const std::string& z = g.Output("Z");
  const std::string& x = g.Input("X");
  // Copies: emitting declares vars, which moves the block's vars.
  const Var* xv = g.InputVar("X");
  const Var* yv = g.InputVar("Y");
  if (xv == nullptr || yv == nullptr) return absl::InternalError("Pow inputs are not declared");
  const DataType dtype = xv->dtype;
  const DataType y_dtype = yv->dtype;
  const std::optional<std::vector<int64_t>> y_shape = yv->shape;
  if (g.NeedsGrad("X")) {
    std::string y = g.Input("Y");
    if (y_dtype != dtype) {  // an integer exponent: ONNX allows another dtype for Y
      std::string cast = g.Temp("y", dtype, y_shape);
      g.Emit("Cast", {{"input", {y}}}, {{"output", {cast}}},
             {{"to", AttrValue(int64_t{DataTypeToOnnx(dtype)})}});
      y = cast;
    }
    FLEET_ASSIGN_OR_RETURN(std::string one, EmitScalar(g, 1.0, dtype, "one"));
    const std::string ym1 = EmitBinary(g, "Sub", y, one, y, "y_minus_1");
    std::string p = g.TempLike("pow", z);
    g.Emit("Pow", {{"X", {x}}, {"Y", {ym1}}}, {{"Z", {p}}});
    const std::string py = EmitBinary(g, "Mul", p, y, z, "dpow");
    EmitBroadcastGrad(g, "X", 0, EmitBinary(g, "Mul", dz, py, z, "dX"), z);
  }
  if (g.NeedsGrad("Y")) {
    const std::string log = EmitUnary(g, "Log", x, x, "log_x");
    const std::string zl = EmitBinary(g, "Mul", z, log, z, "z_log_x");
    EmitBroadcastGrad(g, "Y", 0, EmitBinary(g, "Mul", dz, zl, z, "dY"), z);
  }
  return absl::OkStatus();
}

// Y = X < 0 ? X * slope : X:  dX = fleet.prelu_grad,  dslope = dY * min(X, 0).
absl::Status PReluGrad(GradBuilder& g) {
  const std::string dy = g.OutputGrad("Y");
  const std::string& x = g.Input("X");
  if (g.NeedsGrad("X")) {
    g.Emit("fleet.prelu_grad", {{"X", {x}}, {"Slope", {g.Input("slope")}}, {"OutGrad", {dy}}},
           {{"XGrad", {g.InputGrad("X")}}});
  }
  if (g.NeedsGrad("slope")) {
    const Var* xv = g.InputVar("X");
    if (xv == nullptr) return absl::InternalError("PRelu input X is not declared");
    FLEET_ASSIGN_OR_RETURN(std::string zero, EmitScalar(g, 0.0, xv->dtype, "zero"));
    std::string neg = g.TempLike("neg_x", x);
    g.Emit("Min", {{"data_0", {x, zero}}}, {{"min", {neg}}});
    const std::string& y = g.Output("Y");
    EmitBroadcastGrad(g, "slope", 0, EmitBinary(g, "Mul", dy, neg, y, "dslope"), y);
  }
  return absl::OkStatus();
}

// output = condition ? X : Y:  dX = dout where condition, dY = dout elsewhere.
absl::Status WhereGrad(GradBuilder& g) {
  const std::string dout = g.OutputGrad("output");
  const std::string& out = g.Output("output");
  const Var* ov = g.OutputVar("output");
  if (ov == nullptr) return absl::InternalError("Where output is not declared");
  FLEET_ASSIGN_OR_RETURN(std::string zero, EmitScalar(g, 0.0, ov->dtype, "zero"));
  const std::string& cond = g.Input("condition");
  for (const char* slot : {"X", "Y"}) {
    if (!g.NeedsGrad(slot)) continue;
    const bool x = slot[0] == 'X';
    std::string masked = g.TempLike(absl::StrCat("d", slot), out);
    g.Emit("Where", {{"condition", {cond}}, {"X", {x ? dout : zero}}, {"Y", {x ? zero : dout}}},
           {{"output", {masked}}});
    EmitBroadcastGrad(g, slot, 0, masked, out);
  }
  return absl::OkStatus();
}

// sum = data_0 + data_1 + ...: every input gets dsum (summed over its broadcast dims).
absl::Status SumGrad(GradBuilder& g) {
  const std::string dsum = g.OutputGrad("sum");
  for (int i = 0; i < g.NumInputs("data_0"); ++i) {
    if (g.NeedsGrad("data_0", i)) EmitBroadcastGrad(g, "data_0", i, dsum, g.Output("sum"));
  }
  return absl::OkStatus();
}

// mean = (data_0 + ... + data_{n-1}) / n: every input gets dmean / n.
absl::Status MeanGrad(GradBuilder& g) {
  const std::string& mean = g.Output("mean");
  const Var* mv = g.OutputVar("mean");
  if (mv == nullptr) return absl::InternalError("Mean output is not declared");
  const int n = g.NumInputs("data_0");
  FLEET_ASSIGN_OR_RETURN(std::string scale, EmitScalar(g, 1.0 / n, mv->dtype, "inv_count"));
  const std::string d = EmitBinary(g, "Mul", g.OutputGrad("mean"), scale, mean, "dmean");
  for (int i = 0; i < n; ++i) {
    if (g.NeedsGrad("data_0", i)) EmitBroadcastGrad(g, "data_0", i, d, mean);
  }
  return absl::OkStatus();
}

// Max / Min: the gradient goes to the input that gave each element, the first one on ties.
// Walking the inputs in order, input i takes the remaining gradient where it equals the result,
// and what it takes is removed from the remainder; the last input takes what remains.
absl::Status SelectGrad(GradBuilder& g, const char* out_slot) {
  const std::string& out = g.Output(out_slot);
  const Var* ov = g.OutputVar(out_slot);
  if (ov == nullptr) return absl::InternalError("the output is not declared");
  // Copies: emitting declares vars, which moves the block's vars.
  const DataType dtype = ov->dtype;
  const std::optional<std::vector<int64_t>> shape = ov->shape;
  const int n = g.NumInputs("data_0");
  int last_needed = -1;
  for (int i = 0; i < n; ++i) {
    if (g.NeedsGrad("data_0", i)) last_needed = i;
  }
  std::string remaining = g.OutputGrad(out_slot);
  std::string zero;
  for (int i = 0; i <= last_needed; ++i) {
    if (i == n - 1) {
      EmitBroadcastGrad(g, "data_0", i, remaining, out);
      break;
    }
    if (zero.empty()) {
      FLEET_ASSIGN_OR_RETURN(zero, EmitScalar(g, 0.0, dtype, "zero"));
    }
    const std::string eq = g.Temp(absl::StrCat("is_", i), DataType::kBool, shape);
    g.Emit("Equal", {{"A", {g.Input("data_0", i)}}, {"B", {out}}}, {{"C", {eq}}});
    if (g.NeedsGrad("data_0", i)) {
      std::string taken = g.TempLike(absl::StrCat("d", i), out);
      g.Emit("Where", {{"condition", {eq}}, {"X", {remaining}}, {"Y", {zero}}},
             {{"output", {taken}}});
      EmitBroadcastGrad(g, "data_0", i, taken, out);
    }
    if (i == last_needed) break;
    std::string rest = g.TempLike(absl::StrCat("rest_", i), out);
    g.Emit("Where", {{"condition", {eq}}, {"X", {zero}}, {"Y", {remaining}}}, {{"output", {rest}}});
    remaining = rest;
  }
  return absl::OkStatus();
}

}  // namespace

void AddElementwiseGradRules(GradRuleTable& table) {
  table.Add("Add", AddGrad);
  table.Add("Sub", SubGrad);
  table.Add("Mul", MulGrad);
  table.Add("Div", DivGrad);
  table.Add("Pow", PowGrad);
  table.Add("PRelu", PReluGrad);
  table.Add("Where", WhereGrad);
  table.Add("Sum", SumGrad);
  table.Add("Mean", MeanGrad);
  table.Add("Max", [](GradBuilder& g) { return SelectGrad(g, "max"); });
  table.Add("Min", [](GradBuilder& g) { return SelectGrad(g, "min"); });
}

}  // namespace fleet
