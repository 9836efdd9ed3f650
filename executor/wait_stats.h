// How long an executor's thread was blocked waiting for ops in flight (Executor::wait_stats()).
//
// The executor waits for an async op's event only where a later op needs its outputs, or at the
// end of a run (executor/op_waits.h). The time it spends blocked there is the part of the work
// in flight that the ops in between did not hide: with a communicator's busy time
// (runtime/collective/collective_stats.h), 1 - waited / busy is the share of the communication
// that overlapped computation.
//
// WaitCounters is what an executor keeps, shared with the child executors of its sub-blocks, so
// that one executor's numbers cover the waits in its sub-blocks too. They are relaxed atomics
// that only the waiting path touches: a synchronous run costs nothing more.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace fleet {

struct WaitStats {
  int64_t runs = 0;   // Executor::Run calls (a sub-block's runs are part of its parent's)
  int64_t waits = 0;  // waits for a pending event (each pending op is waited for once)
  std::chrono::nanoseconds waited{0};  // the time the executor's thread spent in those waits
};

// Thread safety: any method from any thread.
class WaitCounters {
 public:
  void AddRun() { runs_.fetch_add(1, std::memory_order_relaxed); }
  void AddWait(std::chrono::nanoseconds waited) {
    waits_.fetch_add(1, std::memory_order_relaxed);
    waited_ns_.fetch_add(waited.count(), std::memory_order_relaxed);
  }
  WaitStats Snapshot() const {
    WaitStats s;
    s.runs = runs_.load(std::memory_order_relaxed);
    s.waits = waits_.load(std::memory_order_relaxed);
    s.waited = std::chrono::nanoseconds(waited_ns_.load(std::memory_order_relaxed));
    return s;
  }

 private:
  std::atomic<int64_t> runs_{0};
  std::atomic<int64_t> waits_{0};
  std::atomic<int64_t> waited_ns_{0};
};

}  // namespace fleet
