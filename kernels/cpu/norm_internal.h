// Registration functions of the normalisation group's kernel files; RegisterNormKernels
// (norm.cc) calls them.
#pragma once

#include "executor/kernel.h"

namespace fleet::cpu {

void RegisterSoftmaxKernels(KernelTable& table);     // softmax.cc: Softmax, LogSoftmax, Hardmax
void RegisterDropoutLrnKernels(KernelTable& table);  // dropout_lrn.cc: Dropout, LRN

}  // namespace fleet::cpu
