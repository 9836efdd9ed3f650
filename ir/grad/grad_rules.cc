// BuiltinGradRules: the families of ir/grad/ gathered into one table.
#include "ir/grad/grad_rules.h"

namespace fleet {

GradRuleTable BuiltinGradRules() {
  GradRuleTable table;
  AddElementwiseGradRules(table);
  AddReduceGradRules(table);
  AddMatMulGradRules(table);
  AddConvGradRules(table);
  AddPoolGradRules(table);
  AddNormGradRules(table);
  AddActivationGradRules(table);
  AddShapeGradRules(table);
  AddIndexGradRules(table);
  AddSoftmaxLossGradRules(table);
  return table;
}

}  // namespace fleet
