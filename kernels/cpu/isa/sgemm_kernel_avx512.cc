// AVX-512 f32 micro-kernel: up to 8 rows x 48 columns (3 zmm per row), 24 accumulators; see
// sgemm_kernel.h. Tiles with few accumulators (small M, GEMV-like) split K over several
// accumulator sets so the FMA latency stays hidden.
#include "kernels/cpu/isa/sgemm_kernel.h"

#if FLEET_ISA_LEVEL != FLEET_ISA_LEVEL_AVX512
#error "compile this file only for the avx512 level (kernels/CMakeLists.txt)"
#endif

#include <immintrin.h>

namespace fleet::cpu::FLEET_ISA_NS::sgemm {
namespace {

constexpr int kVec = 16;
// How many K steps ahead the narrow kernel prefetches packed A: its weights often come from DRAM
// (batch-1 convolutions), and the hardware prefetcher alone leaves it waiting.
constexpr int kPrefetch = 32;

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

// P A panels (8 rows each; the last may be partial, `rows` says), NC columns; Z = registers of
// 16 rows.
template <int P, int NC>
void Narrow(int rows, int64_t kc, const float* a, int64_t aps, const float* b, int64_t ldb,
            float* c, int64_t ldc, float alpha, float beta) {
  constexpr int Z = (P + 1) / 2;
  __m512 acc[Z][NC];
#pragma GCC unroll 2
  for (int z = 0; z < Z; ++z) {
#pragma GCC unroll 12
    for (int j = 0; j < NC; ++j) acc[z][j] = _mm512_setzero_ps();
  }
  for (int64_t p = 0; p < kc; ++p) {
    if ((p & 1) == 0) {  // one cache line of each panel per two steps
#pragma GCC unroll 4
      for (int q = 0; q < P; ++q) {
        _mm_prefetch(reinterpret_cast<const char*>(a + q * aps + (p + kPrefetch) * kMr),
                     _MM_HINT_T0);
      }
    }
    __m512 av[Z];
#pragma GCC unroll 2
    for (int z = 0; z < Z; ++z) {
      const __m256 lo = _mm256_loadu_ps(a + 2 * z * aps + p * kMr);
      const __m256 hi =
          2 * z + 1 < P ? _mm256_loadu_ps(a + (2 * z + 1) * aps + p * kMr) : _mm256_setzero_ps();
      av[z] = _mm512_insertf32x8(_mm512_castps256_ps512(lo), hi, 1);
    }
    const float* bp = b + p * ldb;
#pragma GCC unroll 12
    for (int j = 0; j < NC; ++j) {
      const __m512 bv = _mm512_set1_ps(bp[j]);
#pragma GCC unroll 2
      for (int z = 0; z < Z; ++z) acc[z][j] = _mm512_fmadd_ps(av[z], bv, acc[z][j]);
    }
  }
  alignas(64) float tile[Z * kVec][NC];
#pragma GCC unroll 2
  for (int z = 0; z < Z; ++z) {
#pragma GCC unroll 12
    for (int j = 0; j < NC; ++j) {
      alignas(64) float lanes[kVec];
      _mm512_store_ps(lanes, acc[z][j]);
      for (int l = 0; l < kVec; ++l) tile[z * kVec + l][j] = lanes[l];
    }
  }
  for (int r = 0; r < rows; ++r) {
    float* cr = c + r * ldc;
    if (beta == 0.0f) {
      for (int j = 0; j < NC; ++j) cr[j] = alpha * tile[r][j];
    } else {
      for (int j = 0; j < NC; ++j) cr[j] = alpha * tile[r][j] + beta * cr[j];
    }
  }
}

using NarrowFn = void (*)(int, int64_t, const float*, int64_t, const float*, int64_t, float*,
                          int64_t, float, float);

template <int P>
constexpr NarrowFn kNarrowRow[kNarrowCols] = {
    &Narrow<P, 1>, &Narrow<P, 2>, &Narrow<P, 3>, &Narrow<P, 4>,  &Narrow<P, 5>,  &Narrow<P, 6>,
    &Narrow<P, 7>, &Narrow<P, 8>, &Narrow<P, 9>, &Narrow<P, 10>, &Narrow<P, 11>, &Narrow<P, 12>};
constexpr const NarrowFn* kNarrow[kNarrowRows / kMr] = {kNarrowRow<1>, kNarrowRow<2>, kNarrowRow<3>,
                                                        kNarrowRow<4>};

}  // namespace

void NarrowKernel(int rows, int cols, int64_t kc, const float* a, int64_t a_panel_stride,
                  const float* b, int64_t ldb, float* c, int64_t ldc, float alpha, float beta) {
  kNarrow[(rows + kMr - 1) / kMr - 1][cols - 1](rows, kc, a, a_panel_stride, b, ldb, c, ldc, alpha,
                                                beta);
}

void MicroKernel(int rows, int cols, int64_t kc, const float* a, const float* b, int64_t ldb,
                 float* c, int64_t ldc, float alpha, float beta) {
  const int vecs = (cols + kVec - 1) / kVec;
  const int tail = cols - (vecs - 1) * kVec;
  const __mmask16 last = static_cast<__mmask16>((1u << tail) - 1u);
  kTiles[rows - 1][vecs - 1](kc, a, b, ldb, c, ldc, last, alpha, beta);
}

}  // namespace fleet::cpu::FLEET_ISA_NS::sgemm

