// Host buffers that work queued on a CUDA stream still reads. An asynchronous copy from pinned
// memory returns before the DMA has read its source; if the host dropped the source then, the
// pinned cache could hand the block to the next batch while the copy still reads it. So the
// source is held here, with a cudaEvent recorded after the copy, until the stream has passed
// it (PyTorch's CachingHostAllocator records an event per use of a pinned block for the same
// reason).
//
// Holds are released without waiting whenever their event has completed: on every Hold (each
// upload reaps the earlier ones) and on ReleaseFinished. ReleaseAll waits for them, for the
// device's teardown. Nothing spins: ReleaseFinished only asks, ReleaseAll blocks in
// cudaEventSynchronize.
//
// Like cuda_device.h this header needs no CUDA headers. Thread safety: every member may be
// called from any thread (one mutex). The stream must outlive this object.
#pragma once

#include <cstddef>
#include <deque>
#include <memory>
#include <mutex>
#include <vector>

#include "absl/status/status.h"
#include "executor/allocator.h"

namespace fleet {

class InFlightBuffers {
 public:
  // Holds for the work of `stream` (a cudaStream_t) on GPU `ordinal`.
  InFlightBuffers(int ordinal, void* stream) : ordinal_(ordinal), stream_(stream) {}
  // Waits for every hold (ReleaseAll).
  ~InFlightBuffers();
  InFlightBuffers(const InFlightBuffers&) = delete;
  InFlightBuffers& operator=(const InFlightBuffers&) = delete;

  // Keeps `buffer` alive until the work queued on the stream so far (the copy that reads it)
  // has finished; first releases the holds that have. An error (recording the event failed)
  // leaves `buffer` unheld: the caller must then wait for the stream before dropping it.
  absl::Status Hold(std::shared_ptr<Buffer> buffer);

  // Releases the holds whose work has finished, well or not; never blocks.
  void ReleaseFinished();
  // Waits for the work of every hold, then releases them all.
  void ReleaseAll();

  // Holds not yet released.
  size_t size() const;

 private:
  struct Entry {
    void* event;  // cudaEvent_t, recorded after the copy
    std::shared_ptr<Buffer> buffer;
  };
  void ReleaseFinishedLocked();
  void Recycle(Entry& entry);

  const int ordinal_;
  void* const stream_;
  mutable std::mutex mu_;
  std::deque<Entry> entries_;        // in stream order: their events complete front to back
  std::vector<void*> spare_events_;  // created once, reused (an event per upload costs)
};

}  // namespace fleet
