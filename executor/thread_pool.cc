#include "executor/thread_pool.h"

#include <algorithm>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define FLEET_CPU_RELAX() _mm_pause()
#else
#define FLEET_CPU_RELAX() std::this_thread::yield()
#endif

namespace fleet {
namespace {

// About 20-50 microseconds of spinning before an idle worker sleeps.
constexpr int kSpinIterations = 1 << 13;

uint64_t GenerationOf(uint64_t work) { return work >> 32; }

}  // namespace

ThreadPool::ThreadPool(int num_threads) {
  for (int i = 1; i < num_threads; ++i) workers_.emplace_back([this] { WorkerLoop(); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_.store(true);
  }
  wake_.notify_all();
  for (std::thread& t : workers_) t.join();
}

void ThreadPool::RunChunks(uint64_t gen) {
  uint64_t w = work_.load(std::memory_order_acquire);
  while (GenerationOf(w) == gen &&
         static_cast<int64_t>(w & 0xffffffffu) < num_chunks_.load(std::memory_order_relaxed)) {
    if (!work_.compare_exchange_weak(w, w + 1, std::memory_order_acq_rel)) continue;
    int64_t c = static_cast<int64_t>(w & 0xffffffffu);
    int64_t chunk = chunk_.load(std::memory_order_relaxed);
    (*fn_.load(std::memory_order_relaxed))(c * chunk,
                                           std::min(n_.load(std::memory_order_relaxed),
                                                    (c + 1) * chunk));
    pending_.fetch_sub(1, std::memory_order_acq_rel);
    w = work_.load(std::memory_order_acquire);
  }
}

void ThreadPool::ParallelFor(int64_t n, int64_t grain,
                             const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  grain = std::max<int64_t>(grain, 1);
  int64_t chunks = std::min<int64_t>(std::max<int64_t>(1, n / grain), num_threads());
  if (chunks <= 1 || workers_.empty()) {
    fn(0, n);
    return;
  }
  fn_.store(&fn, std::memory_order_relaxed);
  n_.store(n, std::memory_order_relaxed);
  num_chunks_.store(chunks, std::memory_order_relaxed);
  chunk_.store((n + chunks - 1) / chunks, std::memory_order_relaxed);
  pending_.store(chunks, std::memory_order_relaxed);
  uint64_t gen = GenerationOf(work_.load(std::memory_order_relaxed)) + 1;
  work_.store(gen << 32);  // publishes the parameters above (seq_cst)
  if (sleeping_.load() > 0) {
    std::lock_guard<std::mutex> lock(mu_);
    wake_.notify_all();
  }
  RunChunks(gen);  // the caller works too
  while (pending_.load(std::memory_order_acquire) > 0) FLEET_CPU_RELAX();
  // Close this generation: a worker that read the old word just before its last chunk finished
  // would otherwise claim a chunk of the next call once the new parameters are stored.
  work_.store((gen << 32) | 0xffffffffu);
}

void ThreadPool::WorkerLoop() {
  uint64_t seen = 0;
  while (true) {
    uint64_t gen = GenerationOf(work_.load(std::memory_order_acquire));
    for (int spin = 0; gen == seen && spin < kSpinIterations && !stop_.load(); ++spin) {
      FLEET_CPU_RELAX();
      gen = GenerationOf(work_.load(std::memory_order_acquire));
    }
    if (gen == seen) {
      std::unique_lock<std::mutex> lock(mu_);
      sleeping_.fetch_add(1);  // seq_cst: ParallelFor either sees us asleep or we see its work
      wake_.wait(lock, [&] { return stop_.load() || GenerationOf(work_.load()) != seen; });
      sleeping_.fetch_sub(1);
      if (stop_.load()) return;
      gen = GenerationOf(work_.load(std::memory_order_acquire));
    }
    if (stop_.load()) return;
    seen = gen;
    RunChunks(gen);
  }
}

void ParallelFor(ThreadPool* pool, int64_t n, int64_t grain,
                 const std::function<void(int64_t, int64_t)>& fn) {
  if (pool == nullptr) {
    if (n > 0) fn(0, n);
    return;
  }
  pool->ParallelFor(n, grain, fn);
}

}  // namespace fleet
