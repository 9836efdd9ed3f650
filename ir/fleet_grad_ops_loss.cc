// Schemas of the gradient ops of Softmax, LogSoftmax and the classification losses (kernels in
// kernels/cpu/grad_softmax.cc and grad_loss.cc).
//
//   fleet.softmax_grad(Out, OutGrad) -> XGrad       Out * (OutGrad - sum(OutGrad * Out))
//   fleet.log_softmax_grad(Out, OutGrad) -> XGrad   OutGrad - exp(Out) * sum(OutGrad)
//                                                   (sums along `axis`, as the forward op)
//   fleet.softmax_ce_grad(Scores, Labels, Weights?, OutGrad?, LogProbGrad?) -> ScoresGrad
//       the gradient of SoftmaxCrossEntropyLoss for its scores: (softmax - onehot(label)) times
//       the class weight and the output's gradient (divided by the weight sum for 'mean'),
//       plus the gradient through log_prob when LogProbGrad is given
//   fleet.nll_loss_grad(Input, Target, Weight?, OutGrad) -> InputGrad
//       the gradient of NegativeLogLikelihoodLoss: -weight * OutGrad at the label's class
// The loss ops take the forward op's reduction and ignore_index.
#include "ir/fleet_ops.h"
#include "ir/fleet_ops_util.h"

namespace fleet {

std::vector<OpSchema> LossGradOpSchemas() {
  using schema::AttrOf;
  using schema::IntAttr;
  using schema::MakeSchema;
  using schema::OptionalSlot;
  using schema::SlotOf;
  using schema::StringAttr;
  std::vector<OpSchema> out;
  const AttrSpec axis = IntAttr("axis", -1);
  out.push_back(MakeSchema("fleet.softmax_grad", {SlotOf("Out"), SlotOf("OutGrad")},
                           {SlotOf("XGrad")}, {axis}));
  out.push_back(MakeSchema("fleet.log_softmax_grad", {SlotOf("Out"), SlotOf("OutGrad")},
                           {SlotOf("XGrad")}, {axis}));
  const std::vector<AttrSpec> loss_attrs = {StringAttr("reduction", "mean"),
                                            AttrOf("ignore_index", AttrType::kInt)};
  out.push_back(MakeSchema("fleet.softmax_ce_grad",
                           {SlotOf("Scores"), SlotOf("Labels", "I"), OptionalSlot("Weights"),
                            OptionalSlot("OutGrad"), OptionalSlot("LogProbGrad")},
                           {SlotOf("ScoresGrad")}, loss_attrs));
  out.push_back(MakeSchema(
      "fleet.nll_loss_grad",
      {SlotOf("Input"), SlotOf("Target", "I"), OptionalSlot("Weight"), SlotOf("OutGrad")},
      {SlotOf("InputGrad")}, loss_attrs));
  return out;
}

}  // namespace fleet
