// ConvTranspose's registration (conv_transpose.cc); called by
// RegisterConvKernels.
#pragma once

#include "executor/kernel.h"

namespace fleet::cpu {

void RegisterConvTransposeKernels(KernelTable& table);

}  // namespace fleet::cpu
