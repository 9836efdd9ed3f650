// AVX2 + FMA f32 micro-kernel: up to 6 rows x 16 columns (2 ymm per row), 12 accumulators; see
// sgemm_kernel.h. Used where AVX-512 is not available.
#include "kernels/cpu/isa/sgemm_kernel.h"

#if FLEET_ISA_LEVEL != FLEET_ISA_LEVEL_AVX2
#error "compile this file only for the avx2 level (kernels/CMakeLists.txt)"
#endif

#include <immintrin.h>

namespace fleet::cpu::FLEET_ISA_NS::sgemm {
namespace {

constexpr int kVec = 8;

// Lane i of the result is all ones when i < n: the mask for the first n floats of a ymm.
__m256i TailMask(int n) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

template <int R, int V>
void Tile(int64_t kc, const float* a, const float* b, int64_t ldb, float* c, int64_t ldc,
          __m256i last, float alpha, float beta) {
  constexpr int kSplit = R * V >= 6 ? 1 : 2;
  __m256 acc[kSplit][R][V];
#pragma GCC unroll 8
  for (int s = 0; s < kSplit; ++s) {
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
#pragma GCC unroll 2
      for (int v = 0; v < V; ++v) acc[s][r][v] = _mm256_setzero_ps();
    }
  }
  auto step = [&](int s, const float* ap, const float* bp) __attribute__((always_inline)) {
    __m256 bv[V];
#pragma GCC unroll 2
    for (int v = 0; v < V; ++v) {
      bv[v] = v == V - 1 ? _mm256_maskload_ps(bp + v * kVec, last) : _mm256_loadu_ps(bp + v * kVec);
    }
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const __m256 av = _mm256_broadcast_ss(ap + r);
#pragma GCC unroll 2
      for (int v = 0; v < V; ++v) acc[s][r][v] = _mm256_fmadd_ps(av, bv[v], acc[s][r][v]);
    }
  };
  int64_t p = 0;
  for (; p + kSplit <= kc; p += kSplit) {
#pragma GCC unroll 2
    for (int s = 0; s < kSplit; ++s) step(s, a + (p + s) * kMr, b + (p + s) * ldb);
  }
  for (; p < kc; ++p) step(0, a + p * kMr, b + p * ldb);
#pragma GCC unroll 8
  for (int s = 1; s < kSplit; ++s) {
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
#pragma GCC unroll 8
      for (int v = 0; v < V; ++v) acc[0][r][v] = _mm256_add_ps(acc[0][r][v], acc[s][r][v]);
    }
  }
  const __m256 valpha = _mm256_set1_ps(alpha);
  const __m256 vbeta = _mm256_set1_ps(beta);
  const __m256i full = _mm256_set1_epi32(-1);
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
    float* cr = c + r * ldc;
#pragma GCC unroll 8
    for (int v = 0; v < V; ++v) {
      const __m256i m = v == V - 1 ? last : full;
      __m256 res = _mm256_mul_ps(acc[0][r][v], valpha);
      if (beta != 0.0f) res = _mm256_fmadd_ps(_mm256_maskload_ps(cr + v * kVec, m), vbeta, res);
      _mm256_maskstore_ps(cr + v * kVec, m, res);
    }
  }
}

using TileFn = void (*)(int64_t, const float*, const float*, int64_t, float*, int64_t, __m256i,
                        float, float);

template <int R>
constexpr TileFn kRow[2] = {&Tile<R, 1>, &Tile<R, 2>};
constexpr const TileFn* kTiles[kMr] = {kRow<1>, kRow<2>, kRow<3>, kRow<4>, kRow<5>, kRow<6>};

}  // namespace

void MicroKernel(int rows, int cols, int64_t kc, const float* a, const float* b, int64_t ldb,
                 float* c, int64_t ldc, float alpha, float beta) {
  const int vecs = (cols + kVec - 1) / kVec;
  kTiles[rows - 1][vecs - 1](kc, a, b, ldb, c, ldc, TailMask(cols - (vecs - 1) * kVec), alpha,
                             beta);
}

}  // namespace fleet::cpu::FLEET_ISA_NS::sgemm

