#include "kernels/cuda/register.h"

#include "kernels/cuda/groups.h"

namespace fleet {

void RegisterCudaKernels(KernelTable& table) {
  cuda::RegisterElementwiseKernels(table);
  cuda::RegisterMatMulKernels(table);
  cuda::RegisterLossKernels(table);
  cuda::RegisterTrainingKernels(table);
  cuda::RegisterOptimizerKernels(table);
}

}  // namespace fleet
