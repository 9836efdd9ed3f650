// The instruction-set level the CPU kernels run at, picked once per process at run time.
//
// Fleet's binaries run on every x86-64 CPU: the code is compiled for baseline x86-64, and the few
// kernels that gain most from wide vectors (kernels/cpu/isa/: the SGEMM micro-kernel with its
// packing, the im2col row copies) are compiled once per level with that level's flags. The level
// in use is the best one CPUID reports, as ONNX Runtime's MLAS and OpenBLAS's DYNAMIC_ARCH pick
// theirs:
//   avx512    x86-64-v4: AVX-512 F, BW, CD, DQ and VL, with ZMM state saved by the OS
//   avx2      x86-64-v3: AVX2, FMA, BMI1/2, F16C, MOVBE
//   portable  baseline x86-64 (and any other architecture)
// FLEET_CPU_ISA=avx512|avx2|portable in the environment forces a lower level (to test the other
// variants, or to rule one out). A level the CPU lacks, or an unknown name, is not used: the
// library warns once on standard error and keeps the detected level; tools refuse to start
// (CheckCpuIsaEnvironment).
//
// Thread safety: every function may be called from any thread; the level is fixed at the first
// call of ActiveCpuIsa.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace fleet::cpu {

enum class CpuIsa : int { kPortable = 0, kAvx2 = 1, kAvx512 = 2 };

// "portable", "avx2", "avx512".
const char* CpuIsaName(CpuIsa isa);
// The inverse of CpuIsaName; INVALID_ARGUMENT listing the names otherwise.
absl::StatusOr<CpuIsa> ParseCpuIsa(std::string_view name);

// The best level this CPU supports (and this build has kernels for).
CpuIsa DetectedCpuIsa();

// The level the kernels use: DetectedCpuIsa(), lowered by FLEET_CPU_ISA.
CpuIsa ActiveCpuIsa();

// Whether the level's kernels can run here (level <= DetectedCpuIsa()).
bool CpuIsaSupported(CpuIsa isa);

// INVALID_ARGUMENT when FLEET_CPU_ISA is set to an unknown name or to a level this CPU lacks,
// saying which levels it has; OK when unset or valid. Tools call it at start-up.
absl::Status CheckCpuIsaEnvironment();

// One line for --version and benchmark headers, e.g.
// "avx2 (FLEET_CPU_ISA=avx2; the CPU supports avx512)" or "avx512 (detected)".
std::string CpuIsaSummary();

}  // namespace fleet::cpu
