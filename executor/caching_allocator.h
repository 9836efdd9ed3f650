// CachingAllocator: an Allocator that keeps freed blocks for reuse, so that a training step in
// its steady state asks the device for no memory at all (no cudaMalloc per step).
//
// Memory comes from the device in segments (ReserveSegment). A segment is cut into blocks; a
// freed block goes back to a pool and merges with free neighbours of its segment. A request
// takes the smallest free block that fits (best fit) and splits off what it does not need.
// Two pools, as in PyTorch's CUDA caching allocator: requests up to 1 MiB share 2 MiB segments,
// larger ones get segments of their own rounded to 2 MiB, so small tensors do not fragment the
// large segments. When the device has no memory left, the free segments are given back
// (ReleaseSegment) and the request is tried once more.
//
// Stream order: a block freed by the host may still be read by device work queued earlier. It
// is safe to hand it out again only to work queued after that, on the same queue: a device
// allocator built on this one serves one queue (the device's compute stream). Work on another
// queue (a collective on a communication stream) must keep its tensors alive until it is done.
//
// The device side is two functions a subclass provides; the copy functions stay the
// Allocator's. Thread safety: all members may be called from any thread (one mutex).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>

#include "executor/allocator.h"

namespace fleet {

class CachingAllocator : public Allocator {
 public:
  CachingAllocator(DeviceId device, bool host_accessible);
  ~CachingAllocator() override;

  // What the cache holds, beside Allocator::stats() (the bytes live buffers asked for).
  struct CacheStats {
    int64_t reserved_bytes = 0;       // in segments taken from the device, used or not
    int64_t peak_reserved_bytes = 0;  // the most reserved at once
    int64_t segment_reserves = 0;     // ReserveSegment calls that succeeded, ever
    int64_t segment_releases = 0;     // ReleaseSegment calls, ever
    int64_t cached_blocks = 0;        // free blocks kept for reuse now
  };
  CacheStats cache_stats() const;

  // Gives every wholly free segment back to the device (PyTorch's empty_cache).
  void ReleaseCached();

  // The block sizes a request is rounded to and the segment sizes it comes from (public for
  // tests and documentation).
  static constexpr size_t kBlockAlign = 512;
  static constexpr size_t kSmallRequest = size_t{1} << 20;  // up to this: the small pool
  static constexpr size_t kSmallSegment = size_t{2} << 20;
  static constexpr size_t kLargeSegmentAlign = size_t{2} << 20;

 protected:
  // `bytes` of device memory, or nullptr when the device has none left. Called with the lock
  // held: it must not call back into this allocator.
  virtual void* ReserveSegment(size_t bytes) = 0;
  // Gives back a segment that ReserveSegment returned, with its size. Called with the lock held.
  virtual void ReleaseSegment(void* data, size_t bytes) = 0;

  // A subclass's destructor must call this, while its ReleaseSegment can still run: it gives
  // every segment back. Buffers still alive then are a caller's bug (reported on stderr).
  void ReleaseAll();

 private:
  void* AllocateRaw(size_t bytes) final;
  void FreeRaw(void* data, size_t bytes) final;
  void ReleaseCachedLocked();

  struct State;
  mutable std::mutex mu_;
  std::unique_ptr<State> state_;
};

}  // namespace fleet
