// Schemas of the gradient ops of the neural-network layers (kernels in kernels/cpu/grad_*.cc,
// rules in passes/training/grad_{matmul,conv,pool,norm}.cc), and of fleet.batch_norm_train, the
// training form of BatchNormalization (passes/training/train_mode.cc).
//
//   fleet.matmul_grad_a(A, B, YGrad) -> AGrad      gradients of Y = MatMul(A, B), summed over
//   fleet.matmul_grad_b(A, B, YGrad) -> BGrad      the batch dims the input broadcast
//   fleet.conv_grad_input(X, W, YGrad) -> XGrad    X only gives the shape
//   fleet.conv_grad_filter(X, W, YGrad) -> WGrad, BGrad?   W only gives the shape
//   fleet.max_pool_grad / avg_pool_grad(X, YGrad) -> XGrad
//   fleet.global_max_pool_grad / global_avg_pool_grad(X, YGrad) -> XGrad
//   fleet.batch_norm_train(X, Scale, B, RunningMean, RunningVar)
//       -> Y, RunningMeanOut, RunningVarOut, SavedMean, SavedInvStd
//   fleet.batch_norm_grad(X, Scale, SavedMean, SavedInvStd, YGrad) -> XGrad, ScaleGrad, BGrad
//   fleet.layer_norm_grad(X, Scale, B?, YGrad) -> XGrad, ScaleGrad, BGrad
// The window ops take the forward op's attributes unchanged.
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "ir/fleet_ops.h"

namespace fleet {
namespace {

SlotSpec Typed(std::string name, SlotArity arity = SlotArity::kSingle) {
  SlotSpec s;
  s.name = std::move(name);
  s.type_group = "T";
  s.arity = arity;
  return s;
}

SlotSpec Optional(std::string name) { return Typed(std::move(name), SlotArity::kOptional); }

AttrSpec Attr(std::string name, AttrType type, std::optional<AttrValue> default_value) {
  AttrSpec a;
  a.name = std::move(name);
  a.type = type;
  a.default_value = std::move(default_value);
  return a;
}

OpSchema MakeOp(std::string type, std::vector<SlotSpec> inputs, std::vector<SlotSpec> outputs,
                std::vector<AttrSpec> attrs = {}) {
  OpSchema s;
  s.type = std::move(type);
  s.inputs = std::move(inputs);
  s.outputs = std::move(outputs);
  for (AttrSpec& a : attrs) {
    std::string name = a.name;
    s.attrs.emplace(std::move(name), std::move(a));
  }
  return s;
}

// The attributes of Conv, MaxPool and AveragePool together (opset 17).
std::vector<AttrSpec> WindowAttrs() {
  return {Attr("auto_pad", AttrType::kString, AttrValue(std::string("NOTSET"))),
          Attr("ceil_mode", AttrType::kInt, AttrValue(int64_t{0})),
          Attr("count_include_pad", AttrType::kInt, AttrValue(int64_t{0})),
          Attr("dilations", AttrType::kInts, std::nullopt),
          Attr("group", AttrType::kInt, AttrValue(int64_t{1})),
          Attr("kernel_shape", AttrType::kInts, std::nullopt),
          Attr("pads", AttrType::kInts, std::nullopt),
          Attr("storage_order", AttrType::kInt, AttrValue(int64_t{0})),
          Attr("strides", AttrType::kInts, std::nullopt)};
}

}  // namespace

std::vector<OpSchema> NnGradOpSchemas() {
  std::vector<OpSchema> out;
  out.push_back(
      MakeOp("fleet.matmul_grad_a", {Typed("A"), Typed("B"), Typed("YGrad")}, {Typed("AGrad")}));
  out.push_back(
      MakeOp("fleet.matmul_grad_b", {Typed("A"), Typed("B"), Typed("YGrad")}, {Typed("BGrad")}));
  out.push_back(MakeOp("fleet.conv_grad_input", {Typed("X"), Typed("W"), Typed("YGrad")},
                       {Typed("XGrad")}, WindowAttrs()));
  out.push_back(MakeOp("fleet.conv_grad_filter", {Typed("X"), Typed("W"), Typed("YGrad")},
                       {Typed("WGrad"), Optional("BGrad")}, WindowAttrs()));
  for (const char* type : {"fleet.max_pool_grad", "fleet.avg_pool_grad"}) {
    out.push_back(MakeOp(type, {Typed("X"), Typed("YGrad")}, {Typed("XGrad")}, WindowAttrs()));
  }
  for (const char* type : {"fleet.global_max_pool_grad", "fleet.global_avg_pool_grad"}) {
    out.push_back(MakeOp(type, {Typed("X"), Typed("YGrad")}, {Typed("XGrad")}));
  }
  out.push_back(
      MakeOp("fleet.batch_norm_train",
             {Typed("X"), Typed("Scale"), Typed("B"), Typed("RunningMean"), Typed("RunningVar")},
             {Typed("Y"), Typed("RunningMeanOut"), Typed("RunningVarOut"), Typed("SavedMean"),
              Typed("SavedInvStd")},
             {Attr("epsilon", AttrType::kFloat, AttrValue(1e-5f)),
              Attr("momentum", AttrType::kFloat, AttrValue(0.9f))}));
  out.push_back(
      MakeOp("fleet.batch_norm_grad",
             {Typed("X"), Typed("Scale"), Typed("SavedMean"), Typed("SavedInvStd"), Typed("YGrad")},
             {Optional("XGrad"), Optional("ScaleGrad"), Optional("BGrad")}));
  out.push_back(MakeOp("fleet.layer_norm_grad",
                       {Typed("X"), Typed("Scale"), Optional("B"), Typed("YGrad")},
                       {Optional("XGrad"), Optional("ScaleGrad"), Optional("BGrad")},
                       {Attr("axis", AttrType::kInt, AttrValue(int64_t{-1})),
                        Attr("epsilon", AttrType::kFloat, AttrValue(1e-5f)),
                        Attr("stash_type", AttrType::kInt, AttrValue(int64_t{1}))}));
  return out;
}

}  // namespace fleet
