// The register-blocked f32 micro-kernel behind Sgemm (sgemm.h), one per instruction set:
// AVX-512 (sgemm_kernel_avx512.cc), AVX2 + FMA (sgemm_kernel_avx2.cc) or plain C++
// (sgemm_kernel_generic.cc). Exactly one of them is compiled in, chosen by the target flags.
//
// A micro-kernel computes one tile of at most kMr x kNr elements of C:
//   C[rows, cols] = alpha * Apanel[rows, kc] * B[kc, cols] + beta * C
// Apanel is packed: element (r, p) at a[p * kMr + r]. B row p starts at b + p * ldb; a packed B
// panel has ldb == kNr. Only the first `cols` values of each B row are read; beta == 0 never
// reads C.
#pragma once

#include <cstdint>

namespace fleet::cpu::sgemm {

#if defined(__AVX512F__)
inline constexpr int kMr = 8;
inline constexpr int kNr = 48;
#elif defined(__AVX2__) && defined(__FMA__)
inline constexpr int kMr = 6;
inline constexpr int kNr = 16;
#else
inline constexpr int kMr = 4;
inline constexpr int kNr = 16;
#endif

// Name of the compiled micro-kernel ("avx512 8x48", ...), for benchmarks and logs.
const char* MicroKernelName();

// 1 <= rows <= kMr, 1 <= cols <= kNr, kc >= 1.
void MicroKernel(int rows, int cols, int64_t kc, const float* a, const float* b, int64_t ldb,
                 float* c, int64_t ldc, float alpha, float beta);

}  // namespace fleet::cpu::sgemm
