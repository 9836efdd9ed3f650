// What `--version` prints in every Fleet tool: the version, the commit, the build type and
// compiler, and the CPU kernels' instruction-set level with its SGEMM micro-kernel, picked at
// run time (kernels/cpu/cpu_isa.h):
//   fleet-run 0.3.0 (git 90274a4c1d)
//   build: RelWithDebInfo, GNU 12.2.0, CPU kernel levels built: portable, avx2, avx512
//   cpu kernels: avx512 (detected); sgemm micro-kernel avx512 8x48
#pragma once

#include <string>
#include <string_view>

namespace fleet {

// The three lines above for `tool`, without a trailing newline.
std::string VersionText(std::string_view tool);

// Checks FLEET_CPU_ISA (kernels/cpu/cpu_isa.h); on a bad value prints
// "<tool>: error: FLEET_CPU_ISA=...: ..." to standard error and returns false.
bool CheckCpuIsaEnvironmentOrReport(std::string_view tool);

}  // namespace fleet
