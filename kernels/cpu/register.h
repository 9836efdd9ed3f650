// Adds Fleet's CPU kernels to a kernel table. Tools call this once at start-up.
#pragma once

#include "executor/kernel.h"

namespace fleet {

void RegisterCpuKernels(KernelTable& table);

}  // namespace fleet
