// Registers the parameter-server kernels (runtime/ps/register.h).
#include "executor/kernel.h"
#include "runtime/ps/kernel_support.h"
#include "runtime/ps/register.h"

namespace fleet {

void RegisterParameterServerKernels(KernelTable& table) {
  table.AddAnyType("fleet.ps_pull_sparse", Device::kCpu, &ps::PullSparseKernel);
  table.AddAnyType("fleet.ps_push", Device::kCpu, &ps::PushKernel);
  table.AddAnyType("fleet.ps_pull_dense", Device::kCpu, &ps::PullDenseKernel);
  table.AddAnyType("fleet.ps_geo_sync", Device::kCpu, &ps::GeoSyncKernel);
  table.AddAnyType("fleet.ps_serve", Device::kCpu, &ps::ServeKernel);
}

}  // namespace fleet
