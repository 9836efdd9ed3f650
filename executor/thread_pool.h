// A fixed-size thread pool for intra-op parallelism (ParallelFor over index ranges).
//
// Kernels run for tens of microseconds, so waking a sleeping thread through a condition variable
// would cost as much as the work: idle workers spin briefly on an atomic before they sleep.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace fleet {

class ThreadPool {
 public:
  // `num_threads` counts the calling thread: a pool of 1 runs everything inline.
  explicit ThreadPool(int num_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int num_threads() const { return static_cast<int>(workers_.size()) + 1; }

  // Calls fn(begin, end) over disjoint chunks covering [0, n), each at least `grain` long when
  // possible, and returns when all are done. Not reentrant: call from one thread at a time.
  void ParallelFor(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

 private:
  void WorkerLoop();
  // Claims and runs chunks of generation `gen` until none is left.
  void RunChunks(uint64_t gen);

  std::vector<std::thread> workers_;
  // High 32 bits: generation of the current ParallelFor; low 32 bits: next chunk to claim.
  std::atomic<uint64_t> work_{0};
  std::atomic<int64_t> pending_{0};  // chunks of the current generation not finished yet
  std::atomic<int> sleeping_{0};
  std::atomic<bool> stop_{false};
  // Parameters of the current generation, written before work_ publishes them. Atomic because
  // a worker finishing the previous generation may still read them; its claim then fails.
  std::atomic<const std::function<void(int64_t, int64_t)>*> fn_{nullptr};
  std::atomic<int64_t> n_{0};
  std::atomic<int64_t> chunk_{0};
  std::atomic<int64_t> num_chunks_{0};
  std::mutex mu_;
  std::condition_variable wake_;
};

// Runs fn over [0, n) on `pool`, or inline when pool is null.
void ParallelFor(ThreadPool* pool, int64_t n, int64_t grain,
                 const std::function<void(int64_t, int64_t)>& fn);

}  // namespace fleet
