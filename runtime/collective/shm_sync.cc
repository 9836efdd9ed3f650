#include "runtime/collective/shm_sync.h"

#include <errno.h>
#include <linux/futex.h>
#include <poll.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <ctime>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "runtime/collective/timeout.h"

namespace fleet {
namespace {

using SteadyClock = std::chrono::steady_clock;

uint32_t* Word(std::atomic<uint32_t>& word) { return reinterpret_cast<uint32_t*>(&word); }

// Sleeps while `word` holds `expected`, at most `timeout`; process-shared (no FUTEX_PRIVATE_FLAG):
// the segment is mapped by several processes.
void FutexWait(std::atomic<uint32_t>& word, uint32_t expected, std::chrono::nanoseconds timeout) {
  timespec ts;
  ts.tv_sec = static_cast<time_t>(timeout.count() / 1000000000);
  ts.tv_nsec = static_cast<long>(timeout.count() % 1000000000);
  syscall(SYS_futex, Word(word), FUTEX_WAIT, expected, &ts, nullptr, 0);
}

void FutexWakeAll(std::atomic<uint32_t>& word) {
  syscall(SYS_futex, Word(word), FUTEX_WAKE, INT_MAX, nullptr, nullptr, 0);
}

bool AtLeast(uint32_t value, uint32_t target) { return static_cast<int32_t>(value - target) >= 0; }

constexpr char kWhere[] = "shared memory";

}  // namespace

ShmSync::ShmSync(ShmRankSlot* slots, int rank, int size)
    : slots_(slots), rank_(rank), size_(size), pidfds_(size, -1) {}

ShmSync::~ShmSync() {
  for (int fd : pidfds_) {
    if (fd >= 0) close(fd);
  }
}

void ShmSync::Join() { slots_[rank_].pid.store(getpid(), std::memory_order_release); }

uint32_t ShmSync::Arrive() {
  ShmRankSlot& mine = slots_[rank_];
  // Sequentially consistent with the waiter's `waiters` increment and re-read: either it sees
  // the new count and does not sleep, or this sees it waiting and wakes it.
  const uint32_t now = mine.arrivals.fetch_add(1, std::memory_order_seq_cst) + 1;
  if (mine.waiters.load(std::memory_order_seq_cst) != 0) FutexWakeAll(mine.arrivals);
  return now;
}

uint32_t ShmSync::arrivals() const {
  return slots_[rank_].arrivals.load(std::memory_order_relaxed);
}

bool ShmSync::Reached(int rank, uint32_t target) const {
  return AtLeast(slots_[rank].arrivals.load(std::memory_order_acquire), target);
}

absl::Status ShmSync::WaitAll(uint32_t target, std::chrono::milliseconds timeout, const char* op) {
  const auto start = SteadyClock::now();
  for (int r = 0; r < size_; ++r) {
    if (r == rank_) continue;
    absl::Status s = WaitOne(r, target, start, start + timeout, op);
    if (absl::IsDeadlineExceeded(s)) {
      std::vector<int> missing;
      for (int k = 0; k < size_; ++k) {
        if (k != rank_ && !Reached(k, target)) missing.push_back(k);
      }
      return TimedOut(missing, timeout, op);
    }
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status ShmSync::WaitFor(int rank, uint32_t target, std::chrono::milliseconds timeout,
                              const char* op) {
  if (rank == rank_) return absl::OkStatus();
  const auto start = SteadyClock::now();
  absl::Status s = WaitOne(rank, target, start, start + timeout, op);
  return absl::IsDeadlineExceeded(s) ? TimedOut({rank}, timeout, op) : s;
}

absl::Status ShmSync::WaitOne(int rank, uint32_t target, SteadyClock::time_point start,
                              SteadyClock::time_point deadline, const char* op) {
  ShmRankSlot& slot = slots_[rank];
  for (bool slept = false;; slept = true) {
    const uint32_t seen = slot.arrivals.load(std::memory_order_acquire);
    if (AtLeast(seen, target)) return absl::OkStatus();
    // A death is looked for only after a sleep: the common wait costs no system call.
    if (slept || slot.state.load(std::memory_order_acquire) != kShmRunning) {
      absl::Status gone = Gone(rank, op, start);
      if (!gone.ok()) return gone;
    }
    const auto now = SteadyClock::now();
    if (now >= deadline) return absl::DeadlineExceededError("");
    slot.waiters.fetch_add(1, std::memory_order_seq_cst);
    if (slot.arrivals.load(std::memory_order_seq_cst) == seen) {
      FutexWait(slot.arrivals, seen, std::min<SteadyClock::duration>(kSlice, deadline - now));
    }
    slot.waiters.fetch_sub(1, std::memory_order_seq_cst);
  }
}

void ShmSync::Leave(ShmRankState state) {
  ShmRankSlot& mine = slots_[rank_];
  mine.state.store(state, std::memory_order_seq_cst);
  FutexWakeAll(mine.arrivals);
}

bool ShmSync::Died(int rank) {
  const int32_t pid = slots_[rank].pid.load(std::memory_order_acquire);
  if (pid <= 0 || pid == getpid()) return false;  // not joined yet, or a thread of this process
  if (pidfds_[rank] < 0) {
    const long fd = syscall(SYS_pidfd_open, pid, 0);
    if (fd < 0) return errno == ESRCH;
    pidfds_[rank] = static_cast<int>(fd);
  }
  pollfd p{pidfds_[rank], POLLIN, 0};
  return poll(&p, 1, 0) > 0;  // a pidfd turns readable when its process exits
}

absl::Status ShmSync::Gone(int rank, const char* op, SteadyClock::time_point since) {
  const std::string after = DurationText(
      std::chrono::duration_cast<std::chrono::milliseconds>(SteadyClock::now() - since));
  auto died = [&](int r) {
    return absl::UnavailableError(
        absl::StrCat(op, ": rank ", r, " died (process ",
                     slots_[r].pid.load(std::memory_order_relaxed), " exited) after ", after, " (",
                     kWhere, "; hint: that rank's own output or the launcher's says why)"));
  };
  if (Died(rank)) return died(rank);
  const uint32_t state = slots_[rank].state.load(std::memory_order_acquire);
  if (state == kShmFailed) {
    // It most likely failed because another rank died: that one is the news.
    for (int r = 0; r < size_; ++r) {
      if (r != rank_ && r != rank && Died(r)) return died(r);
    }
    return absl::UnavailableError(
        absl::StrCat(op, ": rank ", rank, " stopped after an error of its own, ", after,
                     " into this wait (", kWhere, "; hint: that rank's own error says why)"));
  }
  if (state == kShmClosed) {
    return absl::UnavailableError(absl::StrCat(
        op, ": rank ", rank, " closed its communicator ", after, " into this wait (", kWhere,
        "; hint: every rank must issue the same collectives before it closes)"));
  }
  return absl::OkStatus();
}

absl::Status ShmSync::TimedOut(const std::vector<int>& missing, std::chrono::milliseconds timeout,
                               const char* op) const {
  return absl::DeadlineExceededError(absl::StrCat(
      op, ": timed out after ", DurationText(timeout), " waiting for ",
      missing.size() == 1 ? "rank " : "ranks ", absl::StrJoin(missing, ", "), " (", kWhere,
      "; hint: every rank must issue the same collectives in the same order; a rank that is "
      "slow or stuck shows it in its own log)"));
}

}  // namespace fleet
