#include "kernels/cpu/groups.h"

namespace fleet::cpu {

void RegisterIndexKernels(KernelTable& /*table*/) {}

}  // namespace fleet::cpu
