#include "executor/caching_allocator.h"

#include <cstdio>
#include <cstdlib>
#include <set>
#include <unordered_map>

namespace fleet {
namespace {

// A piece of a segment. The blocks of one segment form a list in address order; a block with
// neither neighbour is a whole segment.
struct Block {
  char* ptr;
  size_t size;
  bool small;  // which pool: segments never mix pools
  bool free = true;
  Block* prev = nullptr;
  Block* next = nullptr;
};

struct SmallerFirst {
  bool operator()(const Block* a, const Block* b) const {
    if (a->size != b->size) return a->size < b->size;
    return a->ptr < b->ptr;
  }
};

size_t RoundUp(size_t n, size_t to) { return (n + to - 1) / to * to; }

}  // namespace

struct CachingAllocator::State {
  std::set<Block*, SmallerFirst> small_free;
  std::set<Block*, SmallerFirst> large_free;
  std::unordered_map<void*, Block*> in_use;
  CacheStats stats;

  std::set<Block*, SmallerFirst>& pool(bool small) { return small ? small_free : large_free; }
};

CachingAllocator::CachingAllocator(DeviceId device, bool host_accessible)
    : Allocator(device, host_accessible), state_(std::make_unique<State>()) {}

CachingAllocator::~CachingAllocator() = default;

void* CachingAllocator::AllocateRaw(size_t bytes) {
  const size_t size = RoundUp(bytes, kBlockAlign);
  const bool small = size <= kSmallRequest;
  std::lock_guard<std::mutex> lock(mu_);
  State& s = *state_;
  auto& pool = s.pool(small);
  Block key{nullptr, size, small};
  auto it = pool.lower_bound(&key);
  Block* block = nullptr;
  if (it != pool.end()) {
    block = *it;
    pool.erase(it);
  } else {
    const size_t segment = small ? kSmallSegment : RoundUp(size, kLargeSegmentAlign);
    void* data = ReserveSegment(segment);
    if (data == nullptr) {
      // Cached but unused segments may be what stands in the way (fragmentation, or the other
      // pool holding memory): give them back and ask once more.
      ReleaseCachedLocked();
      data = ReserveSegment(segment);
      if (data == nullptr) return nullptr;
    }
    s.stats.segment_reserves++;
    s.stats.reserved_bytes += static_cast<int64_t>(segment);
    if (s.stats.reserved_bytes > s.stats.peak_reserved_bytes) {
      s.stats.peak_reserved_bytes = s.stats.reserved_bytes;
    }
    block = new Block{static_cast<char*>(data), segment, small};
  }
  // Split off the rest when it is worth keeping: any remainder in the small pool, and in the
  // large pool only one that could serve a large request (smaller ones stay with the block).
  const size_t rest = block->size - size;
  if (rest >= (small ? kBlockAlign : kSmallRequest + 1)) {
    Block* tail = new Block{block->ptr + size, rest, small};
    tail->prev = block;
    tail->next = block->next;
    if (block->next != nullptr) block->next->prev = tail;
    block->next = tail;
    block->size = size;
    pool.insert(tail);
  }
  block->free = false;
  s.in_use.emplace(block->ptr, block);
  return block->ptr;
}

void CachingAllocator::FreeRaw(void* data, size_t /*bytes*/) {
  std::lock_guard<std::mutex> lock(mu_);
  State& s = *state_;
  auto found = s.in_use.find(data);
  if (found == s.in_use.end()) {
    std::fprintf(stderr, "fleet: %s allocator: freeing %p, which it did not allocate\n",
                 device().ToString().c_str(), data);
    std::abort();
  }
  Block* block = found->second;
  s.in_use.erase(found);
  block->free = true;
  auto& pool = s.pool(block->small);
  if (Block* prev = block->prev; prev != nullptr && prev->free) {
    pool.erase(prev);
    prev->size += block->size;
    prev->next = block->next;
    if (block->next != nullptr) block->next->prev = prev;
    delete block;
    block = prev;
  }
  if (Block* next = block->next; next != nullptr && next->free) {
    pool.erase(next);
    block->size += next->size;
    block->next = next->next;
    if (next->next != nullptr) next->next->prev = block;
    delete next;
  }
  pool.insert(block);
}

void CachingAllocator::ReleaseCached() {
  std::lock_guard<std::mutex> lock(mu_);
  ReleaseCachedLocked();
}

void CachingAllocator::ReleaseCachedLocked() {
  State& s = *state_;
  for (bool small : {true, false}) {
    auto& pool = s.pool(small);
    for (auto it = pool.begin(); it != pool.end();) {
      Block* block = *it;
      if (block->prev != nullptr || block->next != nullptr) {
        ++it;
        continue;
      }
      ReleaseSegment(block->ptr, block->size);
      s.stats.segment_releases++;
      s.stats.reserved_bytes -= static_cast<int64_t>(block->size);
      it = pool.erase(it);
      delete block;
    }
  }
}

void CachingAllocator::ReleaseAll() {
  ReleaseCached();
  std::lock_guard<std::mutex> lock(mu_);
  State& s = *state_;
  if (!s.in_use.empty()) {
    // Their segments cannot be given back while buffers point into them: leak them, loudly.
    std::fprintf(stderr, "fleet: %s allocator destroyed with %zu buffers still alive\n",
                 device().ToString().c_str(), s.in_use.size());
  }
  // Free blocks left are pieces of segments that still hold live buffers.
  for (bool small : {true, false}) {
    for (Block* block : s.pool(small)) delete block;
    s.pool(small).clear();
  }
}

CachingAllocator::CacheStats CachingAllocator::cache_stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  CacheStats stats = state_->stats;
  stats.cached_blocks = static_cast<int64_t>(state_->small_free.size() + state_->large_free.size());
  return stats;
}

}  // namespace fleet
