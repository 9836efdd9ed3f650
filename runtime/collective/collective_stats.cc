#include "runtime/collective/collective_stats.h"

#include <algorithm>

namespace fleet {

std::string_view CollectiveKindName(CollectiveKind kind) {
  switch (kind) {
    case CollectiveKind::kAllReduce:
      return "allreduce";
    case CollectiveKind::kReduce:
      return "reduce";
    case CollectiveKind::kBroadcast:
      return "broadcast";
    case CollectiveKind::kAllGather:
      return "allgather";
    case CollectiveKind::kBarrier:
      return "barrier";
    case CollectiveKind::kReduceScatter:
      return "reduce_scatter";
  }
  return "?";
}

void CollectiveCounters::Add(CollectiveKind kind, int64_t bytes, std::chrono::nanoseconds busy) {
  Kind& k = kinds_[static_cast<int>(kind)];
  k.calls.fetch_add(1, std::memory_order_relaxed);
  k.bytes.fetch_add(bytes, std::memory_order_relaxed);
  k.busy_ns.fetch_add(busy.count(), std::memory_order_relaxed);
}

CommunicatorStats CollectiveCounters::Snapshot() const {
  CommunicatorStats stats;
  for (int i = 0; i < kNumCollectiveKinds; ++i) {
    stats.kinds[i].calls = kinds_[i].calls.load(std::memory_order_relaxed);
    stats.kinds[i].bytes = kinds_[i].bytes.load(std::memory_order_relaxed);
    stats.kinds[i].busy =
        std::chrono::nanoseconds(kinds_[i].busy_ns.load(std::memory_order_relaxed));
  }
  return stats;
}

namespace {

// a + sign * b, per kind.
CommunicatorStats Combine(const CommunicatorStats& a, const CommunicatorStats& b, int sign) {
  CommunicatorStats c;
  for (int i = 0; i < kNumCollectiveKinds; ++i) {
    c.kinds[i].calls = a.kinds[i].calls + sign * b.kinds[i].calls;
    c.kinds[i].bytes = a.kinds[i].bytes + sign * b.kinds[i].bytes;
    c.kinds[i].busy = a.kinds[i].busy + sign * b.kinds[i].busy;
  }
  return c;
}

}  // namespace

CommunicatorStats Difference(const CommunicatorStats& later, const CommunicatorStats& earlier) {
  return Combine(later, earlier, -1);
}

CommunicatorStats Sum(const CommunicatorStats& a, const CommunicatorStats& b) {
  return Combine(a, b, 1);
}

CollectiveTotals Total(const CommunicatorStats& stats) {
  CollectiveTotals t;
  for (const CollectiveTotals& k : stats.kinds) {
    t.calls += k.calls;
    t.bytes += k.bytes;
    t.busy += k.busy;
  }
  return t;
}

std::chrono::nanoseconds BlockingBusy(const CommunicatorStats& stats) {
  return stats[CollectiveKind::kAllGather].busy + stats[CollectiveKind::kBarrier].busy;
}

double HiddenShare(std::chrono::nanoseconds busy, std::chrono::nanoseconds waited) {
  if (busy.count() <= 0) return 1.0;
  const double share =
      1.0 - static_cast<double>(waited.count()) / static_cast<double>(busy.count());
  return std::clamp(share, 0.0, 1.0);
}

}  // namespace fleet
