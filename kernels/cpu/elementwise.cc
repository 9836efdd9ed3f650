#include "kernels/cpu/groups.h"

namespace fleet::cpu {

void RegisterElementwiseKernels(KernelTable& /*table*/) {}

}  // namespace fleet::cpu
