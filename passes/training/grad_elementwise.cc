// Gradient rules of the elementwise arithmetic ops. Inputs may broadcast; their gradients are
// summed back to the input's shape (EmitBroadcastGrad).
#include <string>

#include "ir/op_schema.h"
#include "passes/training/grad_rules.h"
#include "passes/training/grad_util.h"

namespace fleet {
namespace {

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

// sum = data_0 + data_1 + ...: every input gets dsum (summed over its broadcast dims).
absl::Status SumGrad(GradBuilder& g) {
  const std::string dsum = g.OutputGrad("sum");
  for (int i = 0; i < g.NumInputs("data_0"); ++i) {
    if (g.NeedsGrad("data_0", i)) EmitBroadcastGrad(g, "data_0", i, dsum, g.Output("sum"));
  }
  return absl::OkStatus();
}

}  // namespace

void InstallElementwiseGradRules() {
  SetGradRule("Mul", MulGrad);
  SetGradRule("Sum", SumGrad);
}

}  // namespace fleet
