// Schemas of the gradient ops of the elementwise, activation and reduction families (kernels in
// kernels/cpu/grad_activation.cc and kernels/cpu/grad_broadcast.cc).
//
// One-pass activation gradients read the forward output or input and the output's gradient:
//   fleet.<op>_grad(Out, OutGrad) -> XGrad   relu, sigmoid, tanh, sqrt, reciprocal
//   fleet.<op>_grad(X, OutGrad) -> XGrad     leaky_relu, elu, selu, celu, hard_sigmoid,
//                                            hard_swish, softplus, softsign, erf, abs, sin, cos
// with the forward op's attributes (same names and defaults as ONNX). Others:
//   fleet.clip_grad(X, OutGrad, Min?, Max?) -> XGrad       OutGrad where min <= X <= max, else 0
//   fleet.dropout_grad(OutGrad, Mask, Ratio?, TrainingMode?) -> XGrad
//                                    OutGrad * Mask / (1 - ratio) in training, else OutGrad
//   fleet.prelu_grad(X, Slope, OutGrad) -> XGrad           OutGrad * (X < 0 ? Slope : 1)
//   fleet.reduce_select_grad(X, Out, OutGrad) -> XGrad     ReduceMax/ReduceMin: OutGrad goes to
//                                    the first element of each reduced set equal to Out
//                                    (row-major order); attributes as the reduction had them.
#include <string>
#include <utility>
#include <vector>

#include "ir/fleet_ops.h"
#include "ir/fleet_ops_util.h"

namespace fleet {
namespace {

using schema::AttrOf;
using schema::FloatAttr;
using schema::IntAttr;
using schema::OptionalSlot;
using schema::SlotOf;

// A gradient op with the one output XGrad.
OpSchema GradOp(std::string type, std::vector<SlotSpec> inputs, std::vector<AttrSpec> attrs = {}) {
  return schema::MakeSchema(std::move(type), std::move(inputs), {SlotOf("XGrad")},
                            std::move(attrs));
}

}  // namespace

std::vector<OpSchema> ElementwiseGradOpSchemas() {
  std::vector<OpSchema> out;
  for (const char* op : {"relu", "sigmoid", "tanh", "sqrt", "reciprocal"}) {
    out.push_back(GradOp(std::string("fleet.") + op + "_grad", {SlotOf("Out"), SlotOf("OutGrad")}));
  }
  for (const char* op : {"hard_swish", "softplus", "softsign", "erf", "abs", "sin", "cos"}) {
    out.push_back(GradOp(std::string("fleet.") + op + "_grad", {SlotOf("X"), SlotOf("OutGrad")}));
  }
  const std::vector<SlotSpec> x_dy = {SlotOf("X"), SlotOf("OutGrad")};
  out.push_back(GradOp("fleet.leaky_relu_grad", x_dy, {FloatAttr("alpha", 0.01f)}));
  out.push_back(GradOp("fleet.elu_grad", x_dy, {FloatAttr("alpha", 1.0f)}));
  out.push_back(GradOp("fleet.celu_grad", x_dy, {FloatAttr("alpha", 1.0f)}));
  out.push_back(GradOp("fleet.selu_grad", x_dy,
                       {FloatAttr("alpha", 1.67326319217681884765625f),
                        FloatAttr("gamma", 1.05070102214813232421875f)}));
  out.push_back(
      GradOp("fleet.hard_sigmoid_grad", x_dy, {FloatAttr("alpha", 0.2f), FloatAttr("beta", 0.5f)}));
  out.push_back(GradOp("fleet.clip_grad",
                       {SlotOf("X"), SlotOf("OutGrad"), OptionalSlot("Min"), OptionalSlot("Max")}));
  out.push_back(GradOp("fleet.dropout_grad",
                       {SlotOf("OutGrad"), SlotOf("Mask", "M"), OptionalSlot("Ratio", "R"),
                        OptionalSlot("TrainingMode", "B")}));
  OpSchema prelu = GradOp("fleet.prelu_grad", {SlotOf("X"), SlotOf("Slope"), SlotOf("OutGrad")});
  out.push_back(std::move(prelu));
  OpSchema select =
      GradOp("fleet.reduce_select_grad", {SlotOf("X"), SlotOf("Out"), SlotOf("OutGrad")},
             {AttrOf("axes", AttrType::kInts), IntAttr("keepdims", 1),
              IntAttr("noop_with_empty_axes", 0)});
  out.push_back(std::move(select));
  return out;
}

}  // namespace fleet
