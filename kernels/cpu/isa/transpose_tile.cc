// One tile of a transpose of 4-byte elements, for the Transpose-like kernels
// (kernels/cpu/shape_util.cc): whole 8 x 8 blocks in registers where the level has AVX, the
// edges element by element.
#include <cstring>

#include "kernels/cpu/isa/entry_points.h"
#include "kernels/cpu/isa/transpose8x8.h"

namespace fleet::cpu::FLEET_ISA_NS {

void TransposeTileB32(const uint32_t* src, int64_t ld_src, uint32_t* dst, int64_t ld_dst,
                      int64_t rows, int64_t cols) {
  int64_t r = 0;
  for (; r + 8 <= rows; r += 8) {
    int64_t c = 0;
    for (; c + 8 <= cols; c += 8) {
      // Any 4-byte element moves bit-exactly through float registers (no arithmetic).
      Transpose8x8(reinterpret_cast<const float*>(src + r + c * ld_src), ld_src,
                   reinterpret_cast<float*>(dst + r * ld_dst + c), ld_dst);
    }
    for (int64_t rr = r; rr < r + 8; ++rr) {
      for (int64_t cc = c; cc < cols; ++cc) dst[rr * ld_dst + cc] = src[rr + cc * ld_src];
    }
  }
  for (; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) dst[r * ld_dst + c] = src[r + c * ld_src];
  }
}

}  // namespace fleet::cpu::FLEET_ISA_NS
