#include "executor/allocator.h"

#include <malloc.h>

#include <cstdlib>
#include <cstring>
#include <new>
#include <vector>

namespace fleet {
namespace {

constexpr size_t kHostAlign = 64;

void* HostAllocate(size_t bytes) {
  return std::aligned_alloc(kHostAlign, (bytes + kHostAlign - 1) / kHostAlign * kHostAlign);
}

class HostAllocator final : public Allocator {
 public:
  HostAllocator() : Allocator(DeviceId(Device::kCpu), /*host_accessible=*/true) {
    // Executors free and re-allocate the same activation sizes every run. glibc serves blocks
    // over its mmap threshold (128 KiB at first) with fresh mappings and returns them on free,
    // so every run would pay page faults again; keeping such blocks in the heap lets them be
    // reused. The settings are process-wide, made once with the allocator.
    mallopt(M_MMAP_THRESHOLD, 256 << 20);
    mallopt(M_TRIM_THRESHOLD, 512 << 20);
  }

 protected:
  void* AllocateRaw(size_t bytes) override { return HostAllocate(bytes); }
  void FreeRaw(void* data, size_t /*bytes*/) override { std::free(data); }
};

}  // namespace

Allocator* CpuAllocator() {
  // Never destroyed: buffers may outlive static destructors.
  static Allocator* const allocator = [] {
    Allocator* host = new HostAllocator();
    host->c_heap_ = true;
    return host;
  }();
  return allocator;
}

DeviceId Buffer::device() const { return allocator_->device(); }

bool Buffer::host_accessible() const { return allocator_->host_accessible(); }

std::shared_ptr<Buffer> Buffer::Allocate(size_t bytes) { return CpuAllocator()->Allocate(bytes); }

std::shared_ptr<Buffer> Buffer::Wrap(void* data, size_t bytes, std::function<void()> release,
                                     Allocator* memory_of) {
  Allocator* allocator = memory_of != nullptr ? memory_of : CpuAllocator();
  return std::shared_ptr<Buffer>(
      new Buffer(data, bytes, allocator, /*owned=*/false, std::move(release)));
}

Buffer::~Buffer() {
  if (owned_) {
    allocator_->Release(data_, size_);
  } else if (release_) {
    release_();
  }
}

std::shared_ptr<Buffer> Allocator::Allocate(size_t bytes) {
  const size_t raw_bytes = bytes == 0 ? 1 : bytes;
  void* data = c_heap_ ? HostAllocate(raw_bytes) : AllocateRaw(raw_bytes);
  if (data == nullptr) throw std::bad_alloc();
  const int64_t now =
      current_bytes_.fetch_add(static_cast<int64_t>(bytes), std::memory_order_relaxed) +
      static_cast<int64_t>(bytes);
  int64_t peak = peak_bytes_.load(std::memory_order_relaxed);
  while (now > peak && !peak_bytes_.compare_exchange_weak(peak, now, std::memory_order_relaxed)) {
  }
  return std::shared_ptr<Buffer>(new Buffer(data, bytes, this, /*owned=*/true, nullptr));
}

void Allocator::Release(void* data, size_t bytes) {
  current_bytes_.fetch_sub(static_cast<int64_t>(bytes), std::memory_order_relaxed);
  if (c_heap_) {
    std::free(data);
  } else {
    FreeRaw(data, bytes == 0 ? 1 : bytes);
  }
}

Allocator::Stats Allocator::stats() const {
  return Stats{current_bytes_.load(std::memory_order_relaxed),
               peak_bytes_.load(std::memory_order_relaxed)};
}

void Allocator::ResetPeak() {
  peak_bytes_.store(current_bytes_.load(std::memory_order_relaxed), std::memory_order_relaxed);
}

void Allocator::CopyToHost(void* host_dst, const void* src, size_t bytes) const {
  if (bytes > 0) std::memcpy(host_dst, src, bytes);
}

void Allocator::CopyFromHost(void* dst, const void* host_src, size_t bytes) const {
  if (bytes > 0) std::memcpy(dst, host_src, bytes);
}

void Allocator::CopyWithin(void* dst, const void* src, size_t bytes) const {
  if (bytes > 0) std::memcpy(dst, src, bytes);
}

void CopyBytes(void* dst, const Allocator& to, const void* src, const Allocator& from,
               size_t bytes) {
  if (bytes == 0) return;
  if (to.host_accessible() && from.host_accessible()) {
    std::memcpy(dst, src, bytes);
  } else if (from.host_accessible()) {
    to.CopyFromHost(dst, src, bytes);
  } else if (to.host_accessible()) {
    from.CopyToHost(dst, src, bytes);
  } else if (&to == &from || to.device() == from.device()) {
    to.CopyWithin(dst, src, bytes);
  } else {
    std::vector<char> staging(bytes);
    from.CopyToHost(staging.data(), src, bytes);
    to.CopyFromHost(dst, staging.data(), bytes);
  }
}

}  // namespace fleet
