// Gradient rules of the activations and one-input math ops, the pass-through ops (Identity,
// Cast, Dropout) and Clip.
//
// Most become one Fleet grad op that reads the forward input or output and the output's
// gradient in one pass (kernels/cpu/grad_activation.cc):
//   Y = Relu(X)      ==>  dX = fleet.relu_grad(Out: Y, OutGrad: dY)
//   Y = Elu(X) {a}   ==>  dX = fleet.elu_grad(X: X, OutGrad: dY) {a}
// Exp, Log, Neg use one ONNX op (dY * Y, dY / X, -dY). Cast carries the gradient back to the
// input's float type. Dropout in training multiplies by its mask (adding the mask output to the
// forward op when it lacks one).
#include <string>

#include "absl/strings/str_cat.h"
#include "ir/grad/grad_rules.h"
#include "ir/grad/grad_util.h"
#include "ir/op_schema.h"

namespace fleet {
namespace {

// The name of slot 0 of `type`'s inputs and outputs ("X"/"Y", "input"/"output").
std::string InSlot(GradBuilder& g) { return FindOpSchema(g.op().type)->inputs[0].name; }
std::string OutSlot(GradBuilder& g) { return FindOpSchema(g.op().type)->outputs[0].name; }

// dX = grad_op(<first>: X or Y, OutGrad: dY), with the forward op's attributes.
absl::Status OnePassGrad(GradBuilder& g, const std::string& grad_op, bool from_output) {
  const std::string in = InSlot(g);
  const std::string out = OutSlot(g);
  if (!g.NeedsGrad(in)) return absl::OkStatus();
  const std::string& first = from_output ? g.Output(out) : g.Input(in);
  g.Emit(grad_op, {{from_output ? "Out" : "X", {first}}, {"OutGrad", {g.OutputGrad(out)}}},
         {{"XGrad", {g.InputGrad(in)}}}, g.op().attrs);
  return absl::OkStatus();
}

// dX = type(dY, other) for Exp (Mul by Y) and Log (Div by X); Neg and Identity: type(dY).
absl::Status ComposedGrad(GradBuilder& g, const char* type, const std::string& other) {
  const std::string in = InSlot(g);
  const std::string out = OutSlot(g);
  if (!g.NeedsGrad(in)) return absl::OkStatus();
  const OpSchema* schema = FindOpSchema(type);
  std::vector<Slot> inputs = {{schema->inputs[0].name, {g.OutputGrad(out)}}};
  if (!other.empty()) inputs.push_back({schema->inputs[1].name, {other}});
  g.Emit(type, std::move(inputs), {{schema->outputs[0].name, {g.InputGrad(in)}}});
  return absl::OkStatus();
}

// output = Cast(input): the gradient cast back to the input's dtype (float to float only; an
// integer side carries no gradient, so the pass never asks).
absl::Status CastGrad(GradBuilder& g) {
  if (!g.NeedsGrad("input")) return absl::OkStatus();
  const Var* in = g.InputVar("input");
  if (in == nullptr) return absl::InternalError("Cast input is not declared");
  g.Emit("Cast", {{"input", {g.OutputGrad("output")}}}, {{"output", {g.InputGrad("input")}}},
         {{"to", AttrValue(int64_t{DataTypeToOnnx(in->dtype)})}});
  return absl::OkStatus();
}

// output = Clip(input, min?, max?): dY where min <= X <= max; the bounds get none.
absl::Status ClipGrad(GradBuilder& g) {
  if (!g.NeedsGrad("input")) return absl::OkStatus();
  g.Emit("fleet.clip_grad",
         {{"X", {g.Input("input")}},
          {"OutGrad", {g.OutputGrad("output")}},
          {"Min", g.Input("min").empty() ? std::vector<std::string>{}
                                         : std::vector<std::string>{g.Input("min")}},
          {"Max", g.Input("max").empty() ? std::vector<std::string>{}
                                         : std::vector<std::string>{g.Input("max")}}},
         {{"XGrad", {g.InputGrad("input")}}});
  return absl::OkStatus();
}

// The mask output of the forward Dropout op, added to it (and declared) when it has none.
std::string DropoutMask(GradBuilder& g) {
  const std::string& existing = g.Output("mask");
  if (!existing.empty()) return existing;
  const std::string& output = g.Output("output");
  Block& block = g.block();
  const std::string mask = FreshVarName(block, absl::StrCat(output, ".mask"));
  Var v;
  v.name = mask;
  v.dtype = DataType::kBool;
  if (const Var* ov = block.FindVar(output)) v.shape = ov->shape;
  block.AddVar(std::move(v));
  for (Op& op : block.ops) {
    if (op.type != "Dropout" || op.outputs.empty() || op.outputs[0].vars.empty() ||
        op.outputs[0].vars[0] != output) {
      continue;
    }
    op.outputs.resize(1);
    op.outputs.push_back({"mask", {mask}});
    break;
  }
  return mask;
}

// output = Dropout(data, ratio?, training_mode?): without training_mode the op is the identity;
// with it, dX = dY * mask / (1 - ratio) when training_mode is true at run time.
absl::Status DropoutGrad(GradBuilder& g) {
  if (!g.NeedsGrad("data")) return absl::OkStatus();
  const std::string dy = g.OutputGrad("output");
  const std::string& training = g.Input("training_mode");
  if (training.empty()) {
    g.Emit("Identity", {{"input", {dy}}}, {{"output", {g.InputGrad("data")}}});
    return absl::OkStatus();
  }
  const std::string mask = DropoutMask(g);
  const std::string& ratio = g.Input("ratio");
  g.Emit("fleet.dropout_grad",
         {{"OutGrad", {dy}},
          {"Mask", {mask}},
          {"Ratio", ratio.empty() ? std::vector<std::string>{} : std::vector<std::string>{ratio}},
          {"TrainingMode", {training}}},
         {{"XGrad", {g.InputGrad("data")}}});
  return absl::OkStatus();
}

}  // namespace

void AddActivationGradRules(GradRuleTable& table) {
  // Gradients from the forward output: cheaper (no recomputation) and exact for these.
  for (auto [op, grad] : {std::pair{"Relu", "fleet.relu_grad"},
                          {"Sigmoid", "fleet.sigmoid_grad"},
                          {"Tanh", "fleet.tanh_grad"},
                          {"Sqrt", "fleet.sqrt_grad"},
                          {"Reciprocal", "fleet.reciprocal_grad"}}) {
    const std::string grad_op = grad;
    table.Add(op, [grad_op](GradBuilder& g) { return OnePassGrad(g, grad_op, true); });
  }
  for (auto [op, grad] : {std::pair{"LeakyRelu", "fleet.leaky_relu_grad"},
                          {"Elu", "fleet.elu_grad"},
                          {"Selu", "fleet.selu_grad"},
                          {"Celu", "fleet.celu_grad"},
                          {"HardSigmoid", "fleet.hard_sigmoid_grad"},
                          {"HardSwish", "fleet.hard_swish_grad"},
                          {"Softplus", "fleet.softplus_grad"},
                          {"Softsign", "fleet.softsign_grad"},
                          {"Erf", "fleet.erf_grad"},
                          {"Abs", "fleet.abs_grad"},
                          {"Sin", "fleet.sin_grad"},
                          {"Cos", "fleet.cos_grad"}}) {
    const std::string grad_op = grad;
    table.Add(op, [grad_op](GradBuilder& g) { return OnePassGrad(g, grad_op, false); });
  }
  table.Add("Exp", [](GradBuilder& g) { return ComposedGrad(g, "Mul", g.Output("output")); });
  table.Add("Log", [](GradBuilder& g) { return ComposedGrad(g, "Div", g.Input("input")); });
  table.Add("Neg", [](GradBuilder& g) { return ComposedGrad(g, "Neg", ""); });
  table.Add("Identity", [](GradBuilder& g) { return ComposedGrad(g, "Identity", ""); });
  table.Add("Cast", CastGrad);
  table.Add("Clip", ClipGrad);
  table.Add("Dropout", DropoutGrad);
}

}  // namespace fleet
