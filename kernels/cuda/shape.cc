// The view ops on the GPU: Reshape, Flatten, Squeeze, Unsqueeze, Identity and
// fleet.reshape_like return their input with another shape and never touch its data. So the CPU
// kernels (kernels/cpu/shape.cc, grad_shape.cc) serve the GPU unchanged: they are registered
// again under Device::kCuda with the same traits (views of input 0). The inputs they read as
// values (Reshape's shape, the axes of Squeeze and Unsqueeze) are declared host inputs.
#include <string>
#include <vector>

#include "kernels/cpu/groups.h"
#include "kernels/cuda/groups.h"

namespace fleet::cuda {

void RegisterShapeKernels(KernelTable& table) {
  KernelTable cpu_table;
  cpu::RegisterShapeKernels(cpu_table);
  cpu::RegisterShapeGradKernels(cpu_table);
  struct View {
    const char* op;
    std::vector<int> host_inputs;
  };
  const std::vector<View> views = {{"Reshape", {1}}, {"Flatten", {}},
                                   {"Squeeze", {1}}, {"Unsqueeze", {1}},
                                   {"Identity", {}}, {"fleet.reshape_like", {}}};
  for (const View& view : views) {
    absl::StatusOr<KernelFn> fn = cpu_table.Find(view.op, Device::kCpu, DataType::kUndefined);
    if (!fn.ok()) continue;  // cuda_registration_test requires every one of them
    table.AddAnyType(view.op, Device::kCuda, *fn, cpu_table.KeyInput(view.op, Device::kCpu));
    KernelTraits traits = cpu_table.Traits(view.op, Device::kCpu);
    traits.host_inputs = view.host_inputs;
    table.SetTraits(view.op, Device::kCuda, std::move(traits));
  }
}

}  // namespace fleet::cuda
