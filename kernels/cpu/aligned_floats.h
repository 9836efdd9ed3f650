// 64-byte aligned float arrays for SGEMM's packed operands and scratch (sgemm.cc and every
// level's isa/sgemm_blocked.cc); free them with std::free.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <new>

namespace fleet::cpu {

// At least one float; throws std::bad_alloc (the executor turns it into RESOURCE_EXHAUSTED).
inline float* AllocAlignedFloats(int64_t n) {
  const size_t bytes =
      (static_cast<size_t>(std::max<int64_t>(n, 1)) * sizeof(float) + 63) / 64 * 64;
  auto* p = static_cast<float*>(std::aligned_alloc(64, bytes));
  if (p == nullptr) throw std::bad_alloc();
  return p;
}

}  // namespace fleet::cpu
