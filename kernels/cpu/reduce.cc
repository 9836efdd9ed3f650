#include "kernels/cpu/groups.h"

namespace fleet::cpu {

void RegisterReduceKernels(KernelTable& /*table*/) {}

}  // namespace fleet::cpu
