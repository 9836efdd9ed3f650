// This level's table of entry points (level_kernels.h). Constant-initialised, so it may be used
// from other files' static initialisers.
#include "kernels/cpu/isa/entry_points.h"
#include "kernels/cpu/isa/sgemm_kernel.h"
#include "kernels/cpu/level_kernels.h"

namespace fleet::cpu::FLEET_ISA_NS {

constexpr LevelKernels kTable{
    static_cast<CpuIsa>(FLEET_ISA_LEVEL),
    SgemmVariant{sgemm::kMicroKernelName, sgemm::kMr, sgemm::kNr, &SgemmPackA, &SgemmPackB,
                 &SgemmRun},
    &CopyRowsF32,
    &TransposeTileB32,
};
extern const LevelKernels kLevelKernels = kTable;

}  // namespace fleet::cpu::FLEET_ISA_NS
