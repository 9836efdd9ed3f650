// fleet.conditional_block on the GPU (LocalSGD's conditional averages). The CPU kernel serves
// unchanged: it reads Cond, a one-element bool, on the host, and runs its sub-block, whose ops
// carry their own devices (place-device places them with the block's op). It is registered again
// under Device::kCuda with Cond declared a host input, so that the op's outputs, the values its
// sub-block writes, stay on the device.
#include <utility>

#include "kernels/cpu/groups.h"
#include "kernels/cuda/groups.h"

namespace fleet::cuda {

void RegisterControlFlowKernels(KernelTable& table) {
  KernelTable cpu_table;
  cpu::RegisterControlFlowKernels(cpu_table);
  const char* op = "fleet.conditional_block";
  absl::StatusOr<KernelFn> fn = cpu_table.Find(op, Device::kCpu, DataType::kUndefined);
  if (!fn.ok()) return;  // cuda_registration_test requires it
  table.AddAnyType(op, Device::kCuda, *fn, cpu_table.KeyInput(op, Device::kCpu));
  KernelTraits traits = cpu_table.Traits(op, Device::kCpu);
  traits.host_inputs = {0};
  table.SetTraits(op, Device::kCuda, std::move(traits));
}

}  // namespace fleet::cuda
