// Adds Fleet's CUDA kernels to a kernel table, under Device::kCuda. Tools call this once at
// start-up, beside RegisterCpuKernels, in a build with CUDA (FLEET_CUDA_ENABLED).
//
// The kernels enqueue their work on the op's device stream (DeviceContext::stream) and return
// without waiting; they reach the GPU's library handles through the CudaDevices service of the
// execution environment (executor/cuda/cuda_device.h). Registering needs no GPU. kernels/cuda/
// README.md lists the ops covered.
#pragma once

#include "executor/kernel.h"

namespace fleet {

void RegisterCudaKernels(KernelTable& table);

}  // namespace fleet
