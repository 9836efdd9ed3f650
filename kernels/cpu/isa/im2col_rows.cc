// The row copies of im2col for f32 (kernels/cpu/im2col.cc): `rows` rows, each n elements read
// every `stride`-th. With AVX-512, stride 1 and stride 2 (the common convolutions) are whole
// vectors plus one masked tail per row (two loads and one permute per 16 outputs for stride 2),
// which keeps the short rows of late ResNet stages (2 to 16 wide) cheap; other levels and
// strides use plain loops that the level's flags vectorise.
#include <algorithm>

#include "kernels/cpu/isa/entry_points.h"
#include "kernels/cpu/vec_loops.h"

#if FLEET_ISA_LEVEL == FLEET_ISA_LEVEL_AVX512
#include <immintrin.h>
#endif

namespace fleet::cpu::FLEET_ISA_NS {
namespace {

#if FLEET_ISA_LEVEL == FLEET_ISA_LEVEL_AVX512
// Lanes [0, n) of a 16-lane mask, n in [0, 16].
inline __mmask16 FirstLanes(int64_t n) { return static_cast<__mmask16>((1u << n) - 1); }

// dst[0, n) = src[0, n): whole vectors, then one masked tail.
inline void CopyRow(const float* src, float* dst, int64_t n) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(dst + i, _mm512_loadu_ps(src + i));
  if (i < n) {
    const __mmask16 m = FirstLanes(n - i);
    _mm512_mask_storeu_ps(dst + i, m, _mm512_maskz_loadu_ps(m, src + i));
  }
}

// dst[i] = src[2 * i] for i in [0, n): two loads and one permute per 16 outputs. Masked loads
// read no element past src[2 * (n - 1)].
inline void PickEven(const float* src, float* dst, int64_t n) {
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512 lo = _mm512_loadu_ps(src + 2 * i);
    const __m512 hi = _mm512_maskz_loadu_ps(0x7fff, src + 2 * i + 16);
    _mm512_storeu_ps(dst + i, _mm512_permutex2var_ps(lo, even, hi));
  }
  if (i < n) {
    const int64_t need = 2 * (n - i) - 1;  // source elements from src[2 * i]
    const __m512 lo = _mm512_maskz_loadu_ps(FirstLanes(std::min<int64_t>(need, 16)), src + 2 * i);
    const __m512 hi =
        _mm512_maskz_loadu_ps(FirstLanes(std::max<int64_t>(need - 16, 0)), src + 2 * i + 16);
    _mm512_mask_storeu_ps(dst + i, FirstLanes(n - i), _mm512_permutex2var_ps(lo, even, hi));
  }
}
#else
inline void CopyRow(const float* __restrict src, float* __restrict dst, int64_t n) {
  int64_t i = 0;
  for (; i + kVec <= n; i += kVec) {
    for (int j = 0; j < kVec; ++j) dst[i + j] = src[i + j];
  }
  for (; i < n; ++i) dst[i] = src[i];
}

inline void PickEven(const float* __restrict src, float* __restrict dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = src[2 * i];
}
#endif

}  // namespace

void CopyRowsF32(const float* src, int64_t src_step, int64_t stride, float* dst, int64_t n,
                 int64_t rows) {
  if (stride == 1) {
    for (int64_t r = 0; r < rows; ++r) CopyRow(src + r * src_step, dst + r * n, n);
  } else if (stride == 2) {
    for (int64_t r = 0; r < rows; ++r) PickEven(src + r * src_step, dst + r * n, n);
  } else {
    for (int64_t r = 0; r < rows; ++r) {
      const float* s = src + r * src_step;
      float* d = dst + r * n;
      for (int64_t i = 0; i < n; ++i) d[i] = s[i * stride];
    }
  }
}

}  // namespace fleet::cpu::FLEET_ISA_NS
