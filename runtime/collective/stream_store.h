// Copies that write around the caches (non-temporal stores), for results too large to stay in
// them: a plain store first reads the destination's line into the cache (write-allocate) and
// later writes it back, a streaming store only writes, which about halves the memory traffic of
// copying into memory that is not cached. Off x86 they are plain copies. Each call ends with a
// store fence, so the data is visible to whoever the caller then signals.
//
// Internal to runtime/collective (bucket.cc). Thread safety: pure functions.
#pragma once

#include <cstddef>
#include <cstdint>

namespace fleet {

// memcpy(dst, src, bytes), streaming.
void StreamCopy(void* dst, const void* src, size_t bytes);

// dst[i] = src[i] / divisor for i < n, streaming; the same quotients as a plain loop.
void StreamDivide(const float* src, float* dst, int64_t n, float divisor);
void StreamDivide(const double* src, double* dst, int64_t n, double divisor);

}  // namespace fleet
