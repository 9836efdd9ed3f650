// Gradient rules of the matrix products.
//
//   Y = alpha * op(A) * op(B) + beta * C   (Gemm): the input gradients are Gemm ops themselves,
//       the transposes absorbed by transA / transB (no Transpose op, no copy):
//         dA = alpha * dY * op(B)^T   (transA: alpha * op(B) * dY^T)
//         dB = alpha * op(A)^T * dY   (transB: alpha * dY^T * op(A))
//         dC = beta * dY, summed over the dims C broadcast (fleet.reduce_to_like).
//   Y = MatMul(A, B): fleet.matmul_grad_a / fleet.matmul_grad_b, which sum over broadcast
//       batch dims and handle 1-D operands (kernels/cpu/grad_matmul.cc).
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "ir/grad/grad_rules.h"
#include "ir/grad/grad_util.h"
#include "ir/op_schema.h"

namespace fleet {
namespace {

float FloatAttrOr(const Op& op, const char* name, float default_value) {
  auto it = op.attrs.find(name);
  if (it == op.attrs.end()) return default_value;
  if (const float* f = std::get_if<float>(&it->second)) return *f;
  return default_value;
}

bool IntAttrSet(const Op& op, const char* name) {
  auto it = op.attrs.find(name);
  if (it == op.attrs.end()) return false;
  const int64_t* v = std::get_if<int64_t>(&it->second);
  return v != nullptr && *v != 0;
}

// Appends Gemm(A: a, B: b) with the given transposes and alpha, writing `out`.
void EmitGemm(GradBuilder& g, const std::string& a, bool trans_a, const std::string& b,
              bool trans_b, float alpha, const std::string& out) {
  AttrMap attrs;
  attrs["transA"] = AttrValue(int64_t{trans_a ? 1 : 0});
  attrs["transB"] = AttrValue(int64_t{trans_b ? 1 : 0});
  if (alpha != 1.0f) attrs["alpha"] = AttrValue(alpha);
  g.Emit("Gemm", {{"A", {a}}, {"B", {b}}}, {{"Y", {out}}}, std::move(attrs));
}

absl::Status GemmGrad(GradBuilder& g) {
  const Op& op = g.op();
  const std::string dy = g.OutputGrad("Y");
  const std::string& a = g.Input("A");
  const std::string& b = g.Input("B");
  const bool ta = IntAttrSet(op, "transA"), tb = IntAttrSet(op, "transB");
  const float alpha = FloatAttrOr(op, "alpha", 1.0f);
  const float beta = FloatAttrOr(op, "beta", 1.0f);
  if (g.NeedsGrad("A")) {
    if (!ta) {
      EmitGemm(g, dy, false, b, !tb, alpha, g.InputGrad("A"));
    } else {
      EmitGemm(g, b, tb, dy, true, alpha, g.InputGrad("A"));
    }
  }
  if (g.NeedsGrad("B")) {
    if (!tb) {
      EmitGemm(g, a, !ta, dy, false, alpha, g.InputGrad("B"));
    } else {
      EmitGemm(g, dy, true, a, ta, alpha, g.InputGrad("B"));
    }
  }
  if (!g.Input("C").empty() && g.NeedsGrad("C")) {
    std::string dc = dy;
    if (beta != 1.0f) {
      const Var* y = g.OutputVar("Y");
      absl::StatusOr<std::string> b =
          EmitScalar(g, beta, y != nullptr ? y->dtype : DataType::kUndefined, "beta");
      if (!b.ok()) return b.status();
      dc = EmitBinary(g, "Mul", dy, *b, g.Output("Y"), "dC");
    }
    EmitBroadcastGrad(g, "C", 0, dc, g.Output("Y"));
  }
  return absl::OkStatus();
}

absl::Status MatMulGrad(GradBuilder& g) {
  const std::vector<Slot> inputs = {
      {"A", {g.Input("A")}}, {"B", {g.Input("B")}}, {"YGrad", {g.OutputGrad("Y")}}};
  if (g.NeedsGrad("A")) {
    g.Emit("fleet.matmul_grad_a", inputs, {{"AGrad", {g.InputGrad("A")}}});
  }
  if (g.NeedsGrad("B")) {
    g.Emit("fleet.matmul_grad_b", inputs, {{"BGrad", {g.InputGrad("B")}}});
  }
  return absl::OkStatus();
}

}  // namespace

void AddMatMulGradRules(GradRuleTable& table) {
  table.Add("Gemm", GemmGrad);
  table.Add("MatMul", MatMulGrad);
}

}  // namespace fleet
