// CachingAllocator over host memory standing in for a device: segments are counted and capped,
// so the tests see every "cudaMalloc" the cache makes.
#include "executor/caching_allocator.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <map>
#include <new>
#include <random>
#include <thread>
#include <vector>

namespace fleet {
namespace {

constexpr size_t kMiB = size_t{1} << 20;

class HostSegments final : public CachingAllocator {
 public:
  explicit HostSegments(size_t capacity = 64 * kMiB)
      : CachingAllocator(DeviceId(Device::kCuda, 0), /*host_accessible=*/true),
        capacity_(capacity) {}
  ~HostSegments() override { ReleaseAll(); }

  size_t held() const { return held_; }

 protected:
  void* ReserveSegment(size_t bytes) override {
    if (held_ + bytes > capacity_) return nullptr;
    held_ += bytes;
    return std::aligned_alloc(CachingAllocator::kBlockAlign, bytes);
  }
  void ReleaseSegment(void* data, size_t bytes) override {
    held_ -= bytes;
    std::free(data);
  }

 private:
  size_t capacity_;
  size_t held_ = 0;
};

TEST(CachingAllocatorTest, ATrainingStepReservesNothingAfterTheFirst) {
  HostSegments allocator;
  // The sizes one step allocates, in order; everything is freed by the end of the step, in an
  // order unlike the allocation order.
  const std::vector<size_t> step = {400, 4096, 3 * kMiB, 100, 70000, 5 * kMiB + 3, 12, 4096};
  for (int run = 0; run < 50; ++run) {
    std::vector<std::shared_ptr<Buffer>> live;
    for (size_t bytes : step) live.push_back(allocator.Allocate(bytes));
    std::swap(live[1], live[5]);
    while (!live.empty()) live.erase(live.begin() + static_cast<long>(live.size() / 2));
  }
  const CachingAllocator::CacheStats stats = allocator.cache_stats();
  // One small segment, and one large segment per large size (3 MiB -> 4 MiB, 5 MiB -> 6 MiB).
  EXPECT_EQ(stats.segment_reserves, 3);
  EXPECT_EQ(stats.reserved_bytes, static_cast<int64_t>(2 * kMiB + 4 * kMiB + 6 * kMiB));
  EXPECT_EQ(allocator.stats().current_bytes, 0);
}

TEST(CachingAllocatorTest, SmallRequestsShareASegmentAndLargeOnesGetTheirOwn) {
  HostSegments allocator;
  auto a = allocator.Allocate(1);
  auto b = allocator.Allocate(kMiB);  // the largest small request
  EXPECT_EQ(allocator.cache_stats().segment_reserves, 1);
  // Rounded to 512 bytes: b starts right after a's 512.
  EXPECT_EQ(static_cast<char*>(b->data()) - static_cast<char*>(a->data()), 512);
  auto c = allocator.Allocate(kMiB + 1);
  EXPECT_EQ(allocator.cache_stats().segment_reserves, 2);
  EXPECT_EQ(allocator.cache_stats().reserved_bytes, static_cast<int64_t>(4 * kMiB));
}

TEST(CachingAllocatorTest, FreedNeighboursMergeBackIntoAWholeSegment) {
  HostSegments allocator;
  auto a = allocator.Allocate(1000);
  auto b = allocator.Allocate(2000);
  auto c = allocator.Allocate(3000);
  b.reset();
  a.reset();  // merges with b's block
  c.reset();  // merges with a+b and with the rest of the segment
  EXPECT_EQ(allocator.cache_stats().cached_blocks, 1);
  allocator.ReleaseCached();
  const CachingAllocator::CacheStats stats = allocator.cache_stats();
  EXPECT_EQ(stats.segment_releases, 1);
  EXPECT_EQ(stats.reserved_bytes, 0);
  EXPECT_EQ(stats.peak_reserved_bytes, static_cast<int64_t>(2 * kMiB));
  EXPECT_EQ(allocator.held(), 0u);
}

TEST(CachingAllocatorTest, TakesTheSmallestFreeBlockThatFits) {
  HostSegments allocator;
  auto big = allocator.Allocate(64 * 1024);
  auto fence1 = allocator.Allocate(512);
  auto small = allocator.Allocate(4096);
  auto fence2 = allocator.Allocate(512);
  void* small_at = small->data();
  big.reset();
  small.reset();
  auto got = allocator.Allocate(3000);
  EXPECT_EQ(got->data(), small_at);
}

TEST(CachingAllocatorTest, GivesBackCachedSegmentsWhenTheDeviceIsFull) {
  HostSegments allocator(/*capacity=*/5 * kMiB);
  allocator.Allocate(3 * kMiB).reset();  // a 4 MiB segment, now cached and unused
  EXPECT_EQ(allocator.held(), 4 * kMiB);
  // A small request needs a 2 MiB segment, which only fits once the cached one is given back.
  auto small = allocator.Allocate(100);
  EXPECT_EQ(allocator.held(), 2 * kMiB);
  EXPECT_EQ(allocator.cache_stats().segment_releases, 1);
  // Nothing can make room for this one: the device's "out of memory" reaches the caller.
  EXPECT_THROW(allocator.Allocate(4 * kMiB), std::bad_alloc);
  EXPECT_EQ(allocator.stats().current_bytes, 100);
}

// Random allocations and frees: live buffers never overlap, and each keeps what was written
// into it while others come and go.
TEST(CachingAllocatorTest, LiveBuffersNeverOverlap) {
  HostSegments allocator(/*capacity=*/size_t{1} << 30);
  std::mt19937 random(7);
  std::map<char*, std::pair<std::shared_ptr<Buffer>, unsigned char>> live;  // by address
  for (int i = 0; i < 3000; ++i) {
    if (!live.empty() && random() % 2 == 0) {
      auto it = live.begin();
      std::advance(it, static_cast<long>(random() % live.size()));
      const auto& [buffer, fill] = it->second;
      const auto* bytes = static_cast<const unsigned char*>(buffer->data());
      ASSERT_TRUE(
          std::all_of(bytes, bytes + buffer->size(), [&](unsigned char b) { return b == fill; }))
          << "buffer at " << buffer->data() << " was overwritten";
      live.erase(it);
      continue;
    }
    const size_t bytes = random() % 4 == 0 ? kMiB + random() % (3 * kMiB) : 1 + random() % 20000;
    std::shared_ptr<Buffer> buffer = allocator.Allocate(bytes);
    const auto fill = static_cast<unsigned char>(i);
    std::memset(buffer->data(), fill, bytes);
    char* start = static_cast<char*>(buffer->data());
    auto next = live.lower_bound(start);
    if (next != live.end()) {
      ASSERT_LE(start + bytes, next->first);
    }
    if (next != live.begin()) {
      auto prev = std::prev(next);
      ASSERT_LE(prev->first + prev->second.first->size(), start);
    }
    live.emplace(start, std::make_pair(std::move(buffer), fill));
  }
  live.clear();
  EXPECT_EQ(allocator.stats().current_bytes, 0);
  allocator.ReleaseCached();
  EXPECT_EQ(allocator.held(), 0u);
}

TEST(CachingAllocatorTest, ThreadsMayAllocateAtOnce) {
  HostSegments allocator;
  auto work = [&] {
    for (int i = 0; i < 2000; ++i) {
      auto a = allocator.Allocate(static_cast<size_t>(1 + i % 5000));
      auto b = allocator.Allocate(static_cast<size_t>(kMiB + i % 3));
      std::memset(a->data(), 1, a->size());
    }
  };
  std::thread other(work);
  work();
  other.join();
  EXPECT_EQ(allocator.stats().current_bytes, 0);
  allocator.ReleaseCached();
  EXPECT_EQ(allocator.held(), 0u);
}

}  // namespace
}  // namespace fleet
