// The gradient rules of the built-in ops, one installer per op family; each installs its rules
// into the op schemas (SetGradRule, ir/op_schema.h).
#pragma once

namespace fleet {

// Installs every built-in rule, once; the autodiff pass calls it before its first run.
void InstallBuiltinGradRules();

// The families (passes/training/grad_<family>.cc).
void InstallElementwiseGradRules();
void InstallReduceGradRules();
void InstallMatMulGradRules();  // Gemm, MatMul
void InstallConvGradRules();    // Conv
void InstallPoolGradRules();    // MaxPool, AveragePool, GlobalAveragePool, GlobalMaxPool
void InstallNormGradRules();    // fleet.batch_norm_train, LayerNormalization
void InstallActivationGradRules();
void InstallShapeGradRules();
void InstallIndexGradRules();
void InstallSoftmaxLossGradRules();

}  // namespace fleet
