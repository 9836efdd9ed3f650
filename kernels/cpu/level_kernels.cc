// The per-level tables of level_kernels.h, and the choice of the active one.
#include "kernels/cpu/level_kernels.h"

namespace fleet::cpu {

const LevelKernels& LevelKernelsFor(CpuIsa isa) {
  switch (isa) {
#if defined(FLEET_HAVE_X86_ISA_LEVELS)
    case CpuIsa::kAvx512:
      return avx512::kLevelKernels;
    case CpuIsa::kAvx2:
      return avx2::kLevelKernels;
#endif
    default:
      return portable::kLevelKernels;
  }
}

const LevelKernels& ActiveLevelKernels() {
  static const LevelKernels& active = LevelKernelsFor(ActiveCpuIsa());
  return active;
}

}  // namespace fleet::cpu
