// Allocators and buffers: where tensor memory comes from, which device it is on, and how bytes
// move between devices.
//
// Every Buffer records the Allocator whose memory it holds, so a tensor knows its device and
// copies go through that device's copy functions (host memcpy for the CPU; cudaMemcpy later). An
// Allocator counts its current and peak bytes with relaxed atomics (no lock on the allocation
// path). `CpuAllocator()` is the host allocator every tensor uses unless told otherwise; a device
// allocator (CUDA's, a test's stand-in) derives from Allocator and overrides the raw allocation
// and copy functions.
//
// Thread safety: Allocate, the copies and stats() may be called from any thread. An allocator
// must outlive every buffer it allocated (the CPU allocator lives as long as the process).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>

#include "ir/device.h"

namespace fleet {

class Allocator;

// Owns (or borrows, via the release function) one allocation.
class Buffer {
 public:
  // Allocates `bytes` bytes, 64-byte aligned, uninitialised, in host memory (CpuAllocator()).
  static std::shared_ptr<Buffer> Allocate(size_t bytes);
  // Wraps memory owned elsewhere; `release` runs when the last user lets go (may be empty).
  // `memory_of` says whose memory it is (its device and copy functions); null means the host.
  static std::shared_ptr<Buffer> Wrap(void* data, size_t bytes, std::function<void()> release,
                                      Allocator* memory_of = nullptr);

  ~Buffer();
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;

  void* data() const { return data_; }
  size_t size() const { return size_; }
  // The allocator whose memory this is (never null).
  Allocator* allocator() const { return allocator_; }
  DeviceId device() const;
  // Whether host code may read and write data() directly.
  bool host_accessible() const;

 private:
  friend class Allocator;
  Buffer(void* data, size_t size, Allocator* allocator, bool owned, std::function<void()> release)
      : data_(data),
        size_(size),
        allocator_(allocator),
        owned_(owned),
        release_(std::move(release)) {}
  void* data_;
  size_t size_;
  Allocator* allocator_;
  bool owned_;  // true: data_ goes back to allocator_ when the buffer dies
  std::function<void()> release_;
};

class Allocator {
 public:
  Allocator(DeviceId device, bool host_accessible)
      : device_(device), host_accessible_(host_accessible) {}
  virtual ~Allocator() = default;
  Allocator(const Allocator&) = delete;
  Allocator& operator=(const Allocator&) = delete;

  DeviceId device() const { return device_; }
  // True when host code may touch this memory directly (host memory; CUDA's pinned or managed
  // memory would be too). Device memory is reached only through the copy functions.
  bool host_accessible() const { return host_accessible_; }

  // `bytes` uninitialised bytes, returned here when the buffer dies. Throws std::bad_alloc when
  // the memory is exhausted (the executor reports it as RESOURCE_EXHAUSTED, naming the op).
  std::shared_ptr<Buffer> Allocate(size_t bytes);

  // Synchronous copies between this allocator's memory and host memory, or within this
  // device. They return once the bytes have arrived. The defaults are memcpy, right for host
  // memory; a device allocator overrides all three. A device allocator reports its own copy
  // failures (a failed cudaMemcpy leaves the device unusable: it aborts with a message).
  virtual void CopyToHost(void* host_dst, const void* src, size_t bytes) const;
  virtual void CopyFromHost(void* dst, const void* host_src, size_t bytes) const;
  virtual void CopyWithin(void* dst, const void* src, size_t bytes) const;

  // Bytes requested by live buffers, and the most there have been at once (since the start or
  // the last ResetPeak).
  struct Stats {
    int64_t current_bytes = 0;
    int64_t peak_bytes = 0;
  };
  Stats stats() const;
  void ResetPeak();

 protected:
  // `bytes` (> 0) bytes of this allocator's memory, or nullptr when none is left.
  virtual void* AllocateRaw(size_t bytes) = 0;
  virtual void FreeRaw(void* data, size_t bytes) = 0;

 private:
  friend class Buffer;
  friend Allocator* CpuAllocator();
  void Release(void* data, size_t bytes);

  DeviceId device_;
  bool host_accessible_;
  // The process's host allocator calls the C heap directly: no virtual call per allocation.
  bool c_heap_ = false;
  // Own cache lines: threads allocating at once (Hogwild workers) write current_bytes_ on every
  // allocation, and should not also invalidate the line that holds peak_bytes_ for readers.
  alignas(64) std::atomic<int64_t> current_bytes_{0};
  alignas(64) std::atomic<int64_t> peak_bytes_{0};
};

// The host allocator: 64-byte aligned blocks from the C heap. Process-wide, never destroyed.
Allocator* CpuAllocator();

// Copies `bytes` from `src` (memory of `from`) to `dst` (memory of `to`): memcpy between host
// memories, the device's copy function when one side is the host or both are one device, and
// through a host buffer between two devices that cannot reach each other.
void CopyBytes(void* dst, const Allocator& to, const void* src, const Allocator& from,
               size_t bytes);

}  // namespace fleet
