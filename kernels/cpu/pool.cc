#include "kernels/cpu/groups.h"

namespace fleet::cpu {

void RegisterPoolKernels(KernelTable& /*table*/) {}

}  // namespace fleet::cpu
