// Adds Fleet's CPU kernels to a kernel table. Tools call this once at start-up.
#pragma once

#include <cstdint>

#include "executor/kernel.h"

namespace fleet {

void RegisterCpuKernels(KernelTable& table);

// Sets how many threads the CPU math library (OpenBLAS) may use for one GEMM. Call before
// running; it is process-wide.
void SetCpuMathThreads(int num_threads);

// Seeds the random ops that have no `seed` attribute (training-mode Dropout): the same seed and
// the same sequence of calls draw the same values. Call before running; it is process-wide.
void SetCpuRandomSeed(uint64_t seed);

}  // namespace fleet
