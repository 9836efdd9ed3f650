// The register-blocked f32 micro-kernel behind Sgemm (sgemm.h), one per instruction-set level
// (isa/level.h): AVX-512 (sgemm_kernel_avx512.cc), AVX2 + FMA (sgemm_kernel_avx2.cc) or plain
// C++ (sgemm_kernel_portable.cc). Each level's build of the blocked driver (sgemm_blocked.cc)
// links its own, in its own namespace.
//
// A micro-kernel computes one tile of at most kMr x kNr elements of C:
//   C[rows, cols] = alpha * Apanel[rows, kc] * B[kc, cols] + beta * C
// Apanel is packed: element (r, p) at a[p * kMr + r]. B row p starts at b + p * ldb; a packed B
// panel has ldb == kNr. Only the first `cols` values of each B row are read; beta == 0 never
// reads C.
#pragma once

#include <cstdint>

#include "kernels/cpu/isa/level.h"

namespace fleet::cpu::FLEET_ISA_NS::sgemm {

#if FLEET_ISA_LEVEL == FLEET_ISA_LEVEL_AVX512
inline constexpr int kMr = 8;
inline constexpr int kNr = 48;
inline constexpr char kMicroKernelName[] = "avx512 8x48";
#define FLEET_SGEMM_NARROW_KERNEL 1
#elif FLEET_ISA_LEVEL == FLEET_ISA_LEVEL_AVX2
inline constexpr int kMr = 6;
inline constexpr int kNr = 16;
inline constexpr char kMicroKernelName[] = "avx2 6x16";
#else
inline constexpr int kMr = 4;
inline constexpr int kNr = 16;
inline constexpr char kMicroKernelName[] = "portable 4x16";
#endif

// 1 <= rows <= kMr, 1 <= cols <= kNr, kc >= 1.
void MicroKernel(int rows, int cols, int64_t kc, const float* a, const float* b, int64_t ldb,
                 float* c, int64_t ldc, float alpha, float beta);

#if defined(FLEET_SGEMM_NARROW_KERNEL)
// For products only a few columns wide (late conv layers at batch 1: C is [512, 4]), where a
// kNr-wide tile would be mostly padding: vectorises along M instead, 16 rows (two A panels) per
// register, each column's B value broadcast.
inline constexpr int kNarrowCols = 12;  // widest tile the narrow kernel takes
inline constexpr int kNarrowRows = 32;  // rows per call (four A panels)

// Like MicroKernel with 1 <= rows <= kNarrowRows, 1 <= cols <= kNarrowCols; A panel q (rows
// 8q..8q+7) starts at a + q * a_panel_stride.
void NarrowKernel(int rows, int cols, int64_t kc, const float* a, int64_t a_panel_stride,
                  const float* b, int64_t ldb, float* c, int64_t ldc, float alpha, float beta);
#else
inline constexpr int kNarrowCols = 0;
inline constexpr int kNarrowRows = kMr;
inline void NarrowKernel(int, int, int64_t, const float*, int64_t, const float*, int64_t, float*,
                         int64_t, float, float) {}
#endif

}  // namespace fleet::cpu::FLEET_ISA_NS::sgemm
