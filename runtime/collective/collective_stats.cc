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

CommunicatorStats Difference(const CommunicatorStats& later, const CommunicatorStats& earlier) {
  CommunicatorStats d;
  for (int i = 0; i < kNumCollectiveKinds; ++i) {
    d.kinds[i].calls = later.kinds[i].calls - earlier.kinds[i].calls;
    d.kinds[i].bytes = later.kinds[i].bytes - earlier.kinds[i].bytes;
    d.kinds[i].busy = later.kinds[i].busy - earlier.kinds[i].busy;
  }
  return d;
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
