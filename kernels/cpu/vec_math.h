// Vectorisable single-precision exp, log, erf, tanh, sigmoid and softplus for the elementwise
// kernels (unary.cc, activation.cc, softmax.cc, reduce.cc).
//
// The std:: versions are library calls that GCC cannot vectorise without -ffast-math. These are
// polynomial approximations written without branches (both sides of a range split are computed
// and one is selected), from float arithmetic, comparisons and bit casts only, so a loop that
// calls them on contiguous arrays vectorises at -O2 with -march=native (16 lanes with AVX-512).
// Special values follow the C library: NaN in gives NaN out, and infinities, signed zeros and
// denormals are handled (tests/kernels/vec_math_test.cc sweeps them against std::).
//
// Maximum error against the correctly rounded result, over every 13th float bit pattern (all
// signs and exponents, denormals included; the test sweeps a sparser grid plus dense ranges):
//   VecExp      1 ulp      (denormal results included; overflow to inf above 88.72)
//   VecLog      1 ulp      (denormal inputs included)
//   VecErf      1 ulp
//   VecTanh     1 ulp
//   VecSigmoid  3 ulp      (2 ulp for all but a handful of inputs)
//   VecSoftplus 2 ulp
// The double overloads call std::.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>

namespace fleet::cpu {

#if defined(__GNUC__)
#define FLEET_VEC_INLINE inline __attribute__((always_inline))
#else
#define FLEET_VEC_INLINE inline
#endif

namespace vec_internal {

// a * b + c, fused where the target has FMA (the polynomial coefficients assume it; without
// FMA the error grows by about an ulp).
FLEET_VEC_INLINE float Fma(float a, float b, float c) {
#ifdef __FMA__
  return __builtin_fmaf(a, b, c);
#else
  return a * b + c;
#endif
}

FLEET_VEC_INLINE uint32_t Bits(float x) { return __builtin_bit_cast(uint32_t, x); }
FLEET_VEC_INLINE float FromBits(uint32_t b) { return __builtin_bit_cast(float, b); }

// Clamps to [lo, hi]; NaN stays NaN. (By value: std::min/max take references, which keeps GCC
// from vectorising some loops.)
FLEET_VEC_INLINE float Clamp(float x, float lo, float hi) {
  const float y = x < lo ? lo : x;
  return hi < y ? hi : y;
}

// c ? a : b as bit operations. A plain ?: on a computed value lets GCC sink that computation
// into a branch, which the vectoriser then cannot if-convert (float operations may trap).
FLEET_VEC_INLINE float Select(bool c, float a, float b) {
  const uint32_t m = 0u - static_cast<uint32_t>(c);
  return FromBits((Bits(a) & m) | (Bits(b) & ~m));
}

// |x| with the sign of s (s's sign bit or'ed into a non-negative x).
FLEET_VEC_INLINE float WithSignOf(float x, float s) {
  return FromBits(Bits(x) | (Bits(s) & 0x80000000u));
}

}  // namespace vec_internal

// exp(x). Cephes' expf: x = n ln2 + r with |r| <= ln2 / 2, exp(r) by a degree-7 polynomial,
// times 2^n built in two halves so that results down to the smallest denormal and up to
// overflow are right.
FLEET_VEC_INLINE float VecExp(float x) {
  using namespace vec_internal;
  constexpr float kLog2e = 1.44269504088896341f;
  constexpr float kRound = 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer
  // Below -104, exp(x) < 2^-150 rounds to 0; above 89 it overflows. Clamping keeps n in range.
  const float xc = Clamp(x, -104.0f, 89.0f);
  const float t = Fma(xc, kLog2e, kRound);
  const float n = t - kRound;
  float r = Fma(n, -0.693359375f, xc);  // ln2 split in two: n * 0.693359375 is exact
  r = Fma(n, 2.12194440e-4f, r);
  float p = 1.9875691500e-4f;
  p = Fma(p, r, 1.3981999507e-3f);
  p = Fma(p, r, 8.3334519073e-3f);
  p = Fma(p, r, 4.1665795894e-2f);
  p = Fma(p, r, 1.6666665459e-1f);
  p = Fma(p, r, 5.0000001201e-1f);
  p = Fma(p, r * r, r + 1.0f);
  // The low mantissa bits of t hold n (in [-150, 129]); 2^n = 2^(n/2) * 2^(n - n/2), each
  // factor a normal float.
  const int32_t ni = static_cast<int32_t>(Bits(t) - 0x4B400000u);
  const int32_t n1 = ni >> 1;
  const float s1 = FromBits(static_cast<uint32_t>(n1 + 127) << 23);
  const float s2 = FromBits(static_cast<uint32_t>(ni - n1 + 127) << 23);
  return (p * s1) * s2;  // NaN stays NaN through p
}

// log(x). Cephes' logf: x = m 2^e with m in [sqrt(1/2), sqrt(2)), log(m) by a degree-9
// polynomial in m - 1, plus e ln2 in two parts. Denormals are scaled by 2^23 first.
FLEET_VEC_INLINE float VecLog(float x) {
  using namespace vec_internal;
  const bool tiny = x < std::numeric_limits<float>::min();
  const float xs = x * Select(tiny, 8388608.0f, 1.0f);
  const uint32_t bits = Bits(xs);
  // m in [0.5, 1), e the matching exponent.
  const float m = FromBits((bits & 0x007fffffu) | 0x3f000000u);
  const float e =
      static_cast<float>(static_cast<int32_t>(bits >> 23)) - Select(tiny, 149.0f, 126.0f);
  const bool low = m < 0.707106781186547524f;
  const float f = m * Select(low, 2.0f, 1.0f) - 1.0f;  // exact (Sterbenz)
  const float ef = e - Select(low, 1.0f, 0.0f);
  const float z = f * f;
  float p = 7.0376836292e-2f;
  p = Fma(p, f, -1.1514610310e-1f);
  p = Fma(p, f, 1.1676998740e-1f);
  p = Fma(p, f, -1.2420140846e-1f);
  p = Fma(p, f, 1.4249322787e-1f);
  p = Fma(p, f, -1.6668057665e-1f);
  p = Fma(p, f, 2.0000714765e-1f);
  p = Fma(p, f, -2.4999993993e-1f);
  p = Fma(p, f, 3.3333331174e-1f);
  float y = p * f * z;
  y = Fma(ef, -2.12194440e-4f, y);
  y = Fma(z, -0.5f, y);
  float r = f + y;
  r = Fma(ef, 0.693359375f, r);
  constexpr float kInf = std::numeric_limits<float>::infinity();
  const float special =
      Select(x == 0.0f, -kInf, Select(x == kInf, kInf, std::numeric_limits<float>::quiet_NaN()));
  return Select((x > 0.0f) & (x < kInf), r, special);  // x < 0 and NaN give NaN
}

// erf(x). Two minimax fits (coefficients from N. Juffa's erff, published on Stack Overflow):
// |x| <= 0.9277: x + x * P(x^2); above: 1 - exp(Q(|x|)), where Q's fit absorbs -x^2. Both are
// evaluated and one selected. |x| is clamped at 4, where erf rounds to 1.
FLEET_VEC_INLINE float VecErf(float x) {
  using namespace vec_internal;
  const float s = x * x;
  float small = -5.96761703e-4f;
  small = Fma(small, s, 4.99119423e-3f);
  small = Fma(small, s, -2.67681349e-2f);
  small = Fma(small, s, 1.12819925e-1f);
  small = Fma(small, s, -3.76125336e-1f);
  small = Fma(small, s, 1.28379166e-1f);
  small = Fma(small, x, x);

  const float t = Clamp(std::fabs(x), 0.0f, 4.0f);
  const float tt = t * t;
  float r = Fma(-1.72853470e-5f, t, 3.83197126e-4f);
  const float u = Fma(-3.88396438e-3f, t, 2.42546219e-2f);
  r = Fma(r, tt, u);
  r = Fma(r, t, -1.06777877e-1f);
  r = Fma(r, t, -6.34846687e-1f);
  r = Fma(r, t, -1.28717512e-1f);
  r = Fma(r, t, -t);
  const float large = WithSignOf(1.0f - VecExp(r), x);
  return Select(std::fabs(x) > 0.927734375f, large, small);  // NaN takes `small`: NaN
}

// tanh(x). Cephes' tanhf: |x| < 0.625: x + x^3 P(x^2); above: sign(x) (1 - 2 / (exp(2|x|) + 1)).
// Computed on |x|, with x's sign put back (so tanh(-0) = -0).
FLEET_VEC_INLINE float VecTanh(float x) {
  using namespace vec_internal;
  const float t = std::fabs(x);
  const float z = t * t;
  float p = -5.70498872745e-3f;
  p = Fma(p, z, 2.06390887954e-2f);
  p = Fma(p, z, -5.37397155531e-2f);
  p = Fma(p, z, 1.33314422036e-1f);
  p = Fma(p, z, -3.33332819422e-1f);
  const float small = Fma(p * z, t, t);
  // exp(2|x|) overflows to inf from |x| = 44.4, which gives exactly 1.
  const float e = VecExp(2.0f * Clamp(t, 0.0f, 50.0f));
  const float large = 1.0f - 2.0f / (e + 1.0f);
  return WithSignOf(Select(t < 0.625f, small, large), x);  // NaN takes `large`: NaN
}

// 1 / (1 + exp(-x)), as e / (1 + e) with e = exp(x) for x < 0 so that tiny results keep their
// precision instead of flushing to 0. One division: a reciprocal times e costs another ulp.
FLEET_VEC_INLINE float VecSigmoid(float x) {
  using namespace vec_internal;
  const float e = VecExp(-std::fabs(x));
  return Select(x < 0.0f, e, 1.0f) / (1.0f + e);
}

// log(1 + exp(x)) = max(x, 0) + log1p(exp(-|x|)); log1p(e) as log(u) + (e - (u - 1)) / u with
// u = 1 + e, which recovers the bits of e that 1 + e rounded away.
FLEET_VEC_INLINE float VecSoftplus(float x) {
  using namespace vec_internal;
  const float e = VecExp(-std::fabs(x));
  const float u = 1.0f + e;
  const float log1p = VecLog(u) + (e - (u - 1.0f)) / u;
  const float y = Select(x > 0.0f, x, 0.0f) + log1p;
  return Select(x != x, x, y);  // the max above would drop a NaN
}

// The double versions: std:: (accurate; double loops are rare in models).
inline double VecExp(double x) { return std::exp(x); }
inline double VecLog(double x) { return std::log(x); }
inline double VecErf(double x) { return std::erf(x); }
inline double VecTanh(double x) { return std::tanh(x); }
inline double VecSigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }
inline double VecSoftplus(double x) {
  return x > 0 ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x));
}

}  // namespace fleet::cpu
