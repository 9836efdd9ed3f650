#include "kernels/cpu/groups.h"

namespace fleet::cpu {

void RegisterShapeKernels(KernelTable& /*table*/) {}

}  // namespace fleet::cpu
