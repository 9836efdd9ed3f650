#include "kernels/cpu/groups.h"

namespace fleet::cpu {

void RegisterUnaryKernels(KernelTable& /*table*/) {}

}  // namespace fleet::cpu
