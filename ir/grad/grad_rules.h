// The gradient rules of the built-in ops (OpSchema::grad, ir/grad_builder.h), one family per
// file ir/grad/grad_<family>.cc. The op-schema registry attaches them to the schemas when it is
// built (ir/op_schema.cc), so every lookup of a schema sees its rule; nothing installs them
// later. Plugins that add an op add its rule with SetGradRule (ir/op_schema.h).
#pragma once

#include <map>
#include <string>

#include "ir/op_schema.h"

namespace fleet {

// Gradient rules by forward op type.
struct GradRuleTable {
  std::map<std::string, GradFn, std::less<>> rules;

  // Adds (or replaces) the rule of `type`.
  void Add(std::string type, GradFn rule) {
    rules.insert_or_assign(std::move(type), std::move(rule));
  }
};

// Every built-in rule, keyed by op type. Built on each call; the registry calls it once.
GradRuleTable BuiltinGradRules();

// The families (ir/grad/grad_<family>.cc).
void AddElementwiseGradRules(GradRuleTable& table);
void AddReduceGradRules(GradRuleTable& table);
void AddMatMulGradRules(GradRuleTable& table);  // Gemm, MatMul
void AddConvGradRules(GradRuleTable& table);    // Conv
// MaxPool, AveragePool, GlobalAveragePool, GlobalMaxPool
void AddPoolGradRules(GradRuleTable& table);
void AddNormGradRules(GradRuleTable& table);  // fleet.batch_norm_train, LayerNormalization
void AddActivationGradRules(GradRuleTable& table);
void AddShapeGradRules(GradRuleTable& table);
void AddIndexGradRules(GradRuleTable& table);
void AddSoftmaxLossGradRules(GradRuleTable& table);

}  // namespace fleet
