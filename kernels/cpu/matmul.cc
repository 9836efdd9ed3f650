#include "kernels/cpu/groups.h"

namespace fleet::cpu {

void RegisterMatMulKernels(KernelTable& /*table*/) {}

}  // namespace fleet::cpu
