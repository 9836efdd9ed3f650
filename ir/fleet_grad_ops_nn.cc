// Schemas of the gradient ops of the neural-network layers (kernels in kernels/cpu/grad_*.cc,
// rules in ir/grad/grad_{matmul,conv,pool,norm}.cc), and of fleet.batch_norm_train, the
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
#include <string>
#include <vector>

#include "ir/fleet_ops.h"
#include "ir/fleet_ops_util.h"

namespace fleet {
namespace {

using schema::AttrOf;
using schema::FloatAttr;
using schema::IntAttr;
using schema::MakeSchema;
using schema::OptionalSlot;
using schema::SlotOf;
using schema::StringAttr;

// The attributes of Conv, MaxPool and AveragePool together (opset 17).
std::vector<AttrSpec> WindowAttrs() {
  return {StringAttr("auto_pad", "NOTSET"),
          IntAttr("ceil_mode", 0),
          IntAttr("count_include_pad", 0),
          AttrOf("dilations", AttrType::kInts),
          IntAttr("group", 1),
          AttrOf("kernel_shape", AttrType::kInts),
          AttrOf("pads", AttrType::kInts),
          IntAttr("storage_order", 0),
          AttrOf("strides", AttrType::kInts)};
}

}  // namespace

std::vector<OpSchema> NnGradOpSchemas() {
  std::vector<OpSchema> out;
  out.push_back(MakeSchema("fleet.matmul_grad_a", {SlotOf("A"), SlotOf("B"), SlotOf("YGrad")},
                           {SlotOf("AGrad")}));
  out.push_back(MakeSchema("fleet.matmul_grad_b", {SlotOf("A"), SlotOf("B"), SlotOf("YGrad")},
                           {SlotOf("BGrad")}));
  out.push_back(MakeSchema("fleet.conv_grad_input", {SlotOf("X"), SlotOf("W"), SlotOf("YGrad")},
                           {SlotOf("XGrad")}, WindowAttrs()));
  out.push_back(MakeSchema("fleet.conv_grad_filter", {SlotOf("X"), SlotOf("W"), SlotOf("YGrad")},
                           {SlotOf("WGrad"), OptionalSlot("BGrad")}, WindowAttrs()));
  for (const char* type : {"fleet.max_pool_grad", "fleet.avg_pool_grad"}) {
    out.push_back(
        MakeSchema(type, {SlotOf("X"), SlotOf("YGrad")}, {SlotOf("XGrad")}, WindowAttrs()));
  }
  for (const char* type : {"fleet.global_max_pool_grad", "fleet.global_avg_pool_grad"}) {
    out.push_back(MakeSchema(type, {SlotOf("X"), SlotOf("YGrad")}, {SlotOf("XGrad")}));
  }
  out.push_back(MakeSchema(
      "fleet.batch_norm_train",
      {SlotOf("X"), SlotOf("Scale"), SlotOf("B"), SlotOf("RunningMean"), SlotOf("RunningVar")},
      {SlotOf("Y"), SlotOf("RunningMeanOut"), SlotOf("RunningVarOut"), SlotOf("SavedMean"),
       SlotOf("SavedInvStd")},
      {FloatAttr("epsilon", 1e-5f), FloatAttr("momentum", 0.9f)}));
  out.push_back(MakeSchema(
      "fleet.batch_norm_grad",
      {SlotOf("X"), SlotOf("Scale"), SlotOf("SavedMean"), SlotOf("SavedInvStd"), SlotOf("YGrad")},
      {OptionalSlot("XGrad"), OptionalSlot("ScaleGrad"), OptionalSlot("BGrad")}));
  out.push_back(MakeSchema(
      "fleet.layer_norm_grad", {SlotOf("X"), SlotOf("Scale"), OptionalSlot("B"), SlotOf("YGrad")},
      {OptionalSlot("XGrad"), OptionalSlot("ScaleGrad"), OptionalSlot("BGrad")},
      {IntAttr("axis", -1), FloatAttr("epsilon", 1e-5f), IntAttr("stash_type", 1)}));
  return out;
}

}  // namespace fleet
