// What a communicator has done so far, per kind of collective: how many calls, how many bytes,
// and how long its worker spent running them ("busy" time: from the moment the worker takes a
// call up to its completion, which includes waiting for late peers). Together with the time the
// executor spent blocked on the collectives' events (executor/wait_stats.h), it says how much of
// the communication was hidden behind computation:
//
//   overlap = 1 - waited / busy, clamped to [0, 1]
//
// 1: the executor never waited (every collective finished while backward went on); 0: it
// waited as long as the collectives ran (nothing overlapped). A run that waited longer than the
// collectives ran (a wait also covers handing the event over) reads 0.
//
// CollectiveCounters is what a communicator keeps: relaxed atomics that its worker adds to once
// per collective, so counting costs no lock. Snapshot() may be called from any thread at any
// time; each number in it is exact, though a collective completing during the call may be
// counted in some of them only.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <string_view>

namespace fleet {

enum class CollectiveKind { kAllReduce, kReduce, kBroadcast, kAllGather, kBarrier, kReduceScatter };
inline constexpr int kNumCollectiveKinds = 6;

// "allreduce", "reduce", "broadcast", "allgather", "barrier", "reduce_scatter".
std::string_view CollectiveKindName(CollectiveKind kind);

struct CollectiveTotals {
  int64_t calls = 0;
  // The payload on this rank: the bucket's bytes (allreduce, reduce, broadcast, the tensor's for
  // reduce_scatter), this rank's
  // bytes (allgather), 0 (barrier); what travels on the wire depends on the algorithm.
  int64_t bytes = 0;
  std::chrono::nanoseconds busy{0};
};

// Per kind, indexed by CollectiveKind.
struct CommunicatorStats {
  std::array<CollectiveTotals, kNumCollectiveKinds> kinds;

  const CollectiveTotals& operator[](CollectiveKind kind) const {
    return kinds[static_cast<int>(kind)];
  }
};

class CollectiveCounters {
 public:
  // Records one collective of `kind` that carried `bytes` and kept the worker busy for `busy`.
  void Add(CollectiveKind kind, int64_t bytes, std::chrono::nanoseconds busy);
  CommunicatorStats Snapshot() const;

 private:
  struct Kind {
    std::atomic<int64_t> calls{0};
    std::atomic<int64_t> bytes{0};
    std::atomic<int64_t> busy_ns{0};
  };
  std::array<Kind, kNumCollectiveKinds> kinds_;
};

// What happened between two snapshots of one communicator: `later` minus `earlier`, per kind.
CommunicatorStats Difference(const CommunicatorStats& later, const CommunicatorStats& earlier);

// Two communicators' stats together (a rank's host and device communicators), per kind.
CommunicatorStats Sum(const CommunicatorStats& a, const CommunicatorStats& b);

// All kinds together.
CollectiveTotals Total(const CommunicatorStats& stats);

// The busy time of the kinds whose kernels wait for them before they return (allgather, barrier):
// nothing hides those behind computation, so they count as waited for.
std::chrono::nanoseconds BlockingBusy(const CommunicatorStats& stats);

// The share of `busy` communication time the executor did not wait for: 1 - waited / busy,
// clamped to [0, 1]; 1 when nothing was busy.
double HiddenShare(std::chrono::nanoseconds busy, std::chrono::nanoseconds waited);

}  // namespace fleet
