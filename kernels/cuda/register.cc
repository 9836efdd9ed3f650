#include "kernels/cuda/register.h"

#include "kernels/cuda/groups.h"

namespace fleet {

void RegisterCudaKernels(KernelTable& table) {
  cuda::RegisterElementwiseKernels(table);
  cuda::RegisterMatMulKernels(table);
  cuda::RegisterLossKernels(table);
  cuda::RegisterTrainingKernels(table);
  cuda::RegisterOptimizerKernels(table);
  cuda::RegisterConvKernels(table);
  cuda::RegisterPoolKernels(table);
  cuda::RegisterShapeKernels(table);
  cuda::RegisterSoftmaxKernels(table);
  cuda::RegisterTransposeKernels(table);
  cuda::RegisterReduceKernels(table);
  cuda::RegisterNormKernels(table);
  cuda::RegisterBatchNormKernels(table);
  cuda::RegisterGatherKernels(table);
  cuda::RegisterConcatKernels(table);
  cuda::RegisterControlFlowKernels(table);
  cuda::RegisterCastKernels(table);
  cuda::RegisterAmpKernels(table);
}

}  // namespace fleet
