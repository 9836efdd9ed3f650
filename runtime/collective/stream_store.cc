#include "runtime/collective/stream_store.h"

#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace fleet {
namespace {

// Elements of `size` bytes before `p` reaches a 16-byte boundary, at most `n`.
int64_t HeadElements(const void* p, size_t size, int64_t n) {
  const size_t misaligned = reinterpret_cast<uintptr_t>(p) & 15;
  const int64_t head = misaligned == 0 ? 0 : static_cast<int64_t>((16 - misaligned) / size);
  return head < n ? head : n;
}

}  // namespace

#if defined(__SSE2__)

void StreamCopy(void* dst_, const void* src_, size_t bytes) {
  char* dst = static_cast<char*>(dst_);
  const char* src = static_cast<const char*>(src_);
  const size_t head = static_cast<size_t>(HeadElements(dst, 1, static_cast<int64_t>(bytes)));
  std::memcpy(dst, src, head);
  size_t i = head;
  for (; i + 64 <= bytes; i += 64) {
    const __m128i a = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i));
    const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i + 16));
    const __m128i c = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i + 32));
    const __m128i d = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i + 48));
    _mm_stream_si128(reinterpret_cast<__m128i*>(dst + i), a);
    _mm_stream_si128(reinterpret_cast<__m128i*>(dst + i + 16), b);
    _mm_stream_si128(reinterpret_cast<__m128i*>(dst + i + 32), c);
    _mm_stream_si128(reinterpret_cast<__m128i*>(dst + i + 48), d);
  }
  std::memcpy(dst + i, src + i, bytes - i);
  _mm_sfence();
}

void StreamDivide(const float* src, float* dst, int64_t n, float divisor) {
  const int64_t head = HeadElements(dst, sizeof(float), n);
  int64_t i = 0;
  for (; i < head; ++i) dst[i] = src[i] / divisor;
  const __m128 d = _mm_set1_ps(divisor);
  for (; i + 4 <= n; i += 4) _mm_stream_ps(dst + i, _mm_div_ps(_mm_loadu_ps(src + i), d));
  for (; i < n; ++i) dst[i] = src[i] / divisor;
  _mm_sfence();
}

void StreamDivide(const double* src, double* dst, int64_t n, double divisor) {
  const int64_t head = HeadElements(dst, sizeof(double), n);
  int64_t i = 0;
  for (; i < head; ++i) dst[i] = src[i] / divisor;
  const __m128d d = _mm_set1_pd(divisor);
  for (; i + 2 <= n; i += 2) _mm_stream_pd(dst + i, _mm_div_pd(_mm_loadu_pd(src + i), d));
  for (; i < n; ++i) dst[i] = src[i] / divisor;
  _mm_sfence();
}

#else

void StreamCopy(void* dst, const void* src, size_t bytes) { std::memcpy(dst, src, bytes); }

void StreamDivide(const float* src, float* dst, int64_t n, float divisor) {
  for (int64_t i = 0; i < n; ++i) dst[i] = src[i] / divisor;
}

void StreamDivide(const double* src, double* dst, int64_t n, double divisor) {
  for (int64_t i = 0; i < n; ++i) dst[i] = src[i] / divisor;
}

#endif

}  // namespace fleet
