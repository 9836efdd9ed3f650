// Adds Fleet's CPU kernels to a kernel table. Tools call this once at start-up.
#pragma once

#include "executor/kernel.h"

namespace fleet {

void RegisterCpuKernels(KernelTable& table);

// Sets how many threads the CPU math library (OpenBLAS) may use for one GEMM. Call before
// running; it is process-wide.
void SetCpuMathThreads(int num_threads);

}  // namespace fleet
