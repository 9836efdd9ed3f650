// bfloat16 bits <-> float. A bf16 value is the upper half of an f32: the same sign and 8
// exponent bits, 7 of the 23 mantissa bits. So widening is exact, and narrowing rounds the
// dropped 16 bits to nearest, ties to even, as CUDA's __float2bfloat16_rn does.
#pragma once

#include <cstdint>
#include <cstring>

namespace fleet {

inline float BFloat16ToFloat(uint16_t bits) {
  const uint32_t wide = static_cast<uint32_t>(bits) << 16;
  float f;
  std::memcpy(&f, &wide, sizeof(f));
  return f;
}

inline uint16_t FloatToBFloat16(float value) {
  uint32_t x;
  std::memcpy(&x, &value, sizeof(x));
  if ((x & 0x7fffffffu) > 0x7f800000u) {  // NaN stays NaN: keep a mantissa bit set
    return static_cast<uint16_t>((x >> 16) | 0x40u);
  }
  x += 0x7fffu + ((x >> 16) & 1u);  // overflow past the largest finite value gives inf
  return static_cast<uint16_t>(x >> 16);
}

}  // namespace fleet
