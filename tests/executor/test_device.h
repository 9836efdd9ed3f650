// A stand-in for a GPU in tests of CPU-only builds: memory the host must not touch directly.
//
// The allocator stores every byte inverted (~b), so host code that read or wrote its buffers
// directly would see or leave garbage; only its copy functions translate. It counts its copies,
// so a test can show that Zeros, Clone, FromValue and fleet.memcpy went through them.
#pragma once

#include <atomic>
#include <cstdlib>
#include <cstring>

#include "executor/allocator.h"

namespace fleet::testing {

class TestDeviceAllocator final : public Allocator {
 public:
  explicit TestDeviceAllocator(DeviceId device = DeviceId(Device::kCuda, 0))
      : Allocator(device, /*host_accessible=*/false) {}

  void CopyToHost(void* host_dst, const void* src, size_t bytes) const override {
    Invert(host_dst, src, bytes);
    ++copies_to_host;
  }
  void CopyFromHost(void* dst, const void* host_src, size_t bytes) const override {
    Invert(dst, host_src, bytes);
    ++copies_from_host;
  }
  void CopyWithin(void* dst, const void* src, size_t bytes) const override {
    std::memcpy(dst, src, bytes);
    ++copies_within;
  }

  mutable std::atomic<int> copies_to_host{0};
  mutable std::atomic<int> copies_from_host{0};
  mutable std::atomic<int> copies_within{0};

 protected:
  void* AllocateRaw(size_t bytes) override { return std::malloc(bytes); }
  void FreeRaw(void* data, size_t /*bytes*/) override { std::free(data); }

 private:
  static void Invert(void* dst, const void* src, size_t bytes) {
    auto* d = static_cast<unsigned char*>(dst);
    const auto* s = static_cast<const unsigned char*>(src);
    for (size_t i = 0; i < bytes; ++i) d[i] = static_cast<unsigned char>(~s[i]);
  }
};

}  // namespace fleet::testing
