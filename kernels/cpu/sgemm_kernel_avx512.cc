// AVX-512 f32 micro-kernel: up to 8 rows x 48 columns (3 zmm per row), 24 accumulators; see
// sgemm_kernel.h. Tiles with few accumulators (small M, GEMV-like) split K over several
// accumulator sets so the FMA latency stays hidden.
#include "kernels/cpu/sgemm_kernel.h"

#if defined(__AVX512F__)

#include <immintrin.h>

namespace fleet::cpu::sgemm {
namespace {

constexpr int kVec = 16;

template <int R, int V>
void Tile(int64_t kc, const float* a, const float* b, int64_t ldb, float* c, int64_t ldc,
          __mmask16 last, float alpha, float beta) {
  // Independent accumulator sets over K: enough chains to cover 4-cycle FMA latency on 2 ports.
  constexpr int kSplit = R * V >= 8 ? 1 : (R * V >= 4 ? 2 : 4);
  __m512 acc[kSplit][R][V];
#pragma GCC unroll 8
  for (int s = 0; s < kSplit; ++s) {
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
#pragma GCC unroll 4
      for (int v = 0; v < V; ++v) acc[s][r][v] = _mm512_setzero_ps();
    }
  }
  auto step = [&](int s, const float* ap, const float* bp) __attribute__((always_inline)) {
    __m512 bv[V];
#pragma GCC unroll 4
    for (int v = 0; v < V; ++v) {
      bv[v] =
          v == V - 1 ? _mm512_maskz_loadu_ps(last, bp + v * kVec) : _mm512_loadu_ps(bp + v * kVec);
    }
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const __m512 av = _mm512_set1_ps(ap[r]);
#pragma GCC unroll 4
      for (int v = 0; v < V; ++v) acc[s][r][v] = _mm512_fmadd_ps(av, bv[v], acc[s][r][v]);
    }
  };
  int64_t p = 0;
  for (; p + kSplit <= kc; p += kSplit) {
#pragma GCC unroll 4
    for (int s = 0; s < kSplit; ++s) step(s, a + (p + s) * kMr, b + (p + s) * ldb);
  }
  for (; p < kc; ++p) step(0, a + p * kMr, b + p * ldb);
#pragma GCC unroll 8
  for (int s = 1; s < kSplit; ++s) {
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
#pragma GCC unroll 8
      for (int v = 0; v < V; ++v) acc[0][r][v] = _mm512_add_ps(acc[0][r][v], acc[s][r][v]);
    }
  }
  const __m512 valpha = _mm512_set1_ps(alpha);
  const __m512 vbeta = _mm512_set1_ps(beta);
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
    float* cr = c + r * ldc;
#pragma GCC unroll 8
    for (int v = 0; v < V; ++v) {
      const __mmask16 m = v == V - 1 ? last : static_cast<__mmask16>(0xFFFF);
      __m512 res = _mm512_mul_ps(acc[0][r][v], valpha);
      if (beta != 0.0f) res = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, cr + v * kVec), vbeta, res);
      _mm512_mask_storeu_ps(cr + v * kVec, m, res);
    }
  }
}

using TileFn = void (*)(int64_t, const float*, const float*, int64_t, float*, int64_t, __mmask16,
                        float, float);

template <int R>
constexpr TileFn kRow[3] = {&Tile<R, 1>, &Tile<R, 2>, &Tile<R, 3>};
constexpr const TileFn* kTiles[kMr] = {kRow<1>, kRow<2>, kRow<3>, kRow<4>,
                                       kRow<5>, kRow<6>, kRow<7>, kRow<8>};

}  // namespace

const char* MicroKernelName() { return "avx512 8x48"; }

void MicroKernel(int rows, int cols, int64_t kc, const float* a, const float* b, int64_t ldb,
                 float* c, int64_t ldc, float alpha, float beta) {
  const int vecs = (cols + kVec - 1) / kVec;
  const int tail = cols - (vecs - 1) * kVec;
  const __mmask16 last = static_cast<__mmask16>((1u << tail) - 1u);
  kTiles[rows - 1][vecs - 1](kc, a, b, ldb, c, ldc, last, alpha, beta);
}

}  // namespace fleet::cpu::sgemm

#endif  // __AVX512F__
