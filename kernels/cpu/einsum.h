// Einsum's registration, kept apart from MatMul/Gemm (einsum.cc); called by
// RegisterMatMulKernels.
#pragma once

#include "executor/kernel.h"

namespace fleet::cpu {

void RegisterEinsumKernels(KernelTable& table);

}  // namespace fleet::cpu
