// A vectorisable single-precision exp for the softmax and log-sum-exp loops.
//
// std::exp is a library call the compiler cannot vectorise without -ffast-math; this is the
// Cephes expf (range reduction by ln 2, degree-6 polynomial), written with branch-free float
// operations so that GCC vectorises loops calling it. Max relative error ~1.2e-7 (1 ulp) for
// x <= 88.37; results below FLT_MIN flush to 0. Meant for x <= 0 (values shifted by a max).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace fleet::cpu {

inline float FastExp(float x) {
  constexpr float kLog2e = 1.44269504088896341f;
  constexpr float kLow = -87.33654f;  // ln(FLT_MIN)
  constexpr float kHigh = 88.37626f;
  constexpr float kRound = 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer
  const float xc = std::min(std::max(x, kLow), kHigh);
  const float t = xc * kLog2e + kRound;
  const float n = t - kRound;
  float r = xc - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  // The low mantissa bits of t hold n; build 2^n from them.
  const uint32_t bits = (__builtin_bit_cast(uint32_t, t) - 0x4B400000u + 127u) << 23;
  const float res = p * __builtin_bit_cast(float, bits);
  return x < kLow ? 0.0f : res;  // NaN stays NaN
}

// exp for the element type: FastExp for float, std::exp for double.
inline float ExpOf(float x) { return FastExp(x); }
inline double ExpOf(double x) { return std::exp(x); }

}  // namespace fleet::cpu
