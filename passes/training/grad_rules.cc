#include "passes/training/grad_rules.h"

#include <mutex>

namespace fleet {

void InstallBuiltinGradRules() {
  static std::once_flag once;
  std::call_once(once, [] {
    InstallElementwiseGradRules();
    InstallReduceGradRules();
    InstallMatMulGradRules();
    InstallConvGradRules();
    InstallPoolGradRules();
    InstallNormGradRules();
    InstallActivationGradRules();
    InstallShapeGradRules();
    InstallIndexGradRules();
    InstallSoftmaxLossGradRules();
  });
}

}  // namespace fleet
