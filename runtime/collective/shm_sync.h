// ShmSync: how the ranks of a shared-memory group wait for each other, without spinning.
//
// Every rank owns one ShmRankSlot in the shared segment. Its `arrivals` counter goes up by one
// each time the rank passes a synchronisation point; all ranks pass the same points in the same
// order, so "rank k has reached point t" is "arrivals[k] >= t" (compared modulo 2^32), and a
// wake-up left over from an earlier point can never release a later one: the waiter re-reads the
// counter. A waiter sleeps on the counter with FUTEX_WAIT (process-shared); a rank that arrives
// wakes the sleepers only when there are any (`waiters`), so an uncontended arrival is one atomic
// add.
//
// Sleeps last at most kSlice at a time. After each one the waiter checks the ranks it still waits
// for: one that died (its process has exited: a pidfd opened on its PID becomes readable), failed
// or closed its communicator ends the wait with UNAVAILABLE naming it; past the timeout the wait
// ends with DEADLINE_EXCEEDED naming every rank that has not arrived:
//   allreduce: timed out after 5s waiting for rank 1 (shared memory; hint: ...)
//   allreduce: rank 1 died (process 4242 exited) after 0.1s (shared memory; hint: ...)
//
// Internal to runtime/collective (shm_communicator.cc).
// Thread safety: one ShmSync per rank, used by one thread at a time (the communicator's worker).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace fleet {

// A rank's part of the segment, a cache line of its own (only its rank writes it, except
// `waiters`).
struct alignas(64) ShmRankSlot {
  std::atomic<uint32_t> arrivals{0};  // futex word
  std::atomic<uint32_t> waiters{0};   // ranks asleep on `arrivals` (or about to be)
  std::atomic<uint32_t> state{0};     // ShmRankState
  std::atomic<int32_t> pid{0};        // the rank's process, set when it joins
};
static_assert(sizeof(std::atomic<uint32_t>) == sizeof(uint32_t), "futex words are 32 bits");
static_assert(std::atomic<uint32_t>::is_always_lock_free,
              "process-shared atomics must be lock-free");

enum ShmRankState : uint32_t {
  kShmRunning = 0,
  kShmFailed = 1,  // a collective failed on that rank; it takes part in no more
  kShmClosed = 2,  // its communicator was destroyed
};

class ShmSync {
 public:
  // The longest single sleep: how soon a dead peer is noticed.
  static constexpr std::chrono::milliseconds kSlice{100};

  // `slots` has `size` entries, shared by the group; this rank's is slots[rank].
  ShmSync(ShmRankSlot* slots, int rank, int size);
  ~ShmSync();
  ShmSync(const ShmSync&) = delete;
  ShmSync& operator=(const ShmSync&) = delete;

  // Records this process's PID in its slot (before the first Arrive).
  void Join();
  // Passes the next synchronisation point; returns this rank's count of points passed.
  uint32_t Arrive();
  // This rank's count of points passed.
  uint32_t arrivals() const;

  // Waits up to `timeout` until every rank has passed `target` points. `op` names the
  // collective in errors ("allreduce").
  absl::Status WaitAll(uint32_t target, std::chrono::milliseconds timeout, const char* op);
  // The same for one rank.
  absl::Status WaitFor(int rank, uint32_t target, std::chrono::milliseconds timeout,
                       const char* op);

  // Tells the other ranks this one takes no further part (kShmFailed or kShmClosed), waking
  // any that wait for it.
  void Leave(ShmRankState state);

 private:
  bool Reached(int rank, uint32_t target) const;
  // Sleeps on `rank`'s counter until it reaches `target`; DEADLINE_EXCEEDED (without a message)
  // at `deadline`, UNAVAILABLE when the rank is gone.
  absl::Status WaitOne(int rank, uint32_t target, std::chrono::steady_clock::time_point start,
                       std::chrono::steady_clock::time_point deadline, const char* op);
  // Whether `rank`'s process has exited (never for a rank that is a thread of this process).
  bool Died(int rank);
  // The error for a rank that stopped taking part (died, failed, closed), or OK while it runs.
  absl::Status Gone(int rank, const char* op, std::chrono::steady_clock::time_point since);
  absl::Status TimedOut(const std::vector<int>& missing, std::chrono::milliseconds timeout,
                        const char* op) const;

  ShmRankSlot* const slots_;
  const int rank_;
  const int size_;
  std::vector<int> pidfds_;  // per rank, opened when first needed; -1: not (yet), or this process
};

}  // namespace fleet
