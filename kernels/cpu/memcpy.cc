// fleet.memcpy on the host: Out = a copy of X in host memory, X on any device (device-to-host,
// or host-to-host). X's device copies the bytes (Allocator::CopyToHost), synchronously.
//
// A device build registers its own fleet.memcpy for host-to-device copies on its stream (ONNX
// Runtime's MemcpyFromHost); the kernel of the op's device runs, so a copy to "cuda:0" is the
// CUDA kernel's and a copy to "cpu" this one.
#include "kernels/cpu/groups.h"

namespace fleet::cpu {
namespace {

absl::Status MemcpyKernel(KernelContext& ctx) {
  ctx.SetOutput(0, ctx.input(0).Clone(ctx.device().allocator));
  return absl::OkStatus();
}

}  // namespace

void RegisterMemcpyKernels(KernelTable& table) {
  table.AddAnyType("fleet.memcpy", Device::kCpu, &MemcpyKernel, /*key_input=*/0);
  KernelTraits traits;
  traits.inputs_anywhere = true;
  table.SetTraits("fleet.memcpy", Device::kCpu, std::move(traits));
}

}  // namespace fleet::cpu
