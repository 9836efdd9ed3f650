// What a file in kernels/cpu/isa/ is being compiled for. Every file of this folder is compiled
// once per instruction-set level (kernels/CMakeLists.txt), with that level's target flags and
//   FLEET_ISA_LEVEL  FLEET_ISA_LEVEL_PORTABLE, _AVX2 or _AVX512
//   FLEET_ISA_NS     portable, avx2 or avx512: the namespace (inside fleet::cpu) its code lives
//                    in, so the levels' builds of one file link side by side.
// The level used at run time is chosen in kernels/cpu/cpu_isa.h.
#pragma once

#define FLEET_ISA_LEVEL_PORTABLE 0
#define FLEET_ISA_LEVEL_AVX2 1
#define FLEET_ISA_LEVEL_AVX512 2

#if !defined(FLEET_ISA_LEVEL) || !defined(FLEET_ISA_NS)
#error "kernels/cpu/isa/ files are compiled per level with FLEET_ISA_LEVEL and FLEET_ISA_NS set"
#endif
