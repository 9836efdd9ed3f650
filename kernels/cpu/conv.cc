#include "kernels/cpu/groups.h"

namespace fleet::cpu {

void RegisterConvKernels(KernelTable& /*table*/) {}

}  // namespace fleet::cpu
