#include "kernels/cpu/register.h"

#include "kernels/cpu/amp.h"
#include "kernels/cpu/groups.h"

namespace fleet {

void RegisterCpuKernels(KernelTable& table) {
  cpu::RegisterElementwiseKernels(table);
  cpu::RegisterUnaryKernels(table);
  cpu::RegisterMatMulKernels(table);
  cpu::RegisterConvKernels(table);
  cpu::RegisterPoolKernels(table);
  cpu::RegisterNormKernels(table);
  cpu::RegisterReduceKernels(table);
  cpu::RegisterShapeKernels(table);
  cpu::RegisterIndexKernels(table);
  cpu::RegisterLossKernels(table);
  cpu::RegisterResizeKernels(table);
  cpu::RegisterOptimizerKernels(table);
  cpu::RegisterMultiUpdateKernels(table);
  cpu::RegisterAutodiffKernels(table);
  cpu::RegisterTrainingKernels(table);
  cpu::RegisterGradBroadcastKernels(table);
  cpu::RegisterMatMulGradKernels(table);
  cpu::RegisterConvGradKernels(table);
  cpu::RegisterPoolGradKernels(table);
  cpu::RegisterNormGradKernels(table);
  cpu::RegisterGradActivationKernels(table);
  cpu::RegisterShapeGradKernels(table);
  cpu::RegisterIndexGradKernels(table);
  cpu::RegisterSoftmaxGradKernels(table);
  cpu::RegisterLossGradKernels(table);
  cpu::RegisterControlFlowKernels(table);
  cpu::RegisterMemcpyKernels(table);
  cpu::RegisterAmpKernels(table);
}

}  // namespace fleet
