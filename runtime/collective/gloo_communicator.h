// GlooCommunicator: a Communicator over Gloo's TCP transport, for CPU tensors.
//
// Create() meets the other ranks through a Store (Rendezvous: a rank that never comes is named),
// then lets Gloo connect every pair of ranks ("full mesh"), publishing the addresses in the same
// store. Collectives then run on the communicator's own thread, one at a time, in issue order
// (communicator.h):
//   - AllReduce packs the bucket into one contiguous buffer, kept for the next call, runs one Gloo
//     allreduce on it and unpacks. Gloo's bcube serves buffers up to 1 MiB (log(n) steps), its
//     ring the larger ones (bandwidth-bound); both reduce-scatter then gather, so every rank ends
//     with bitwise-equal results. Buckets over 64 MiB go in 64 MiB pieces.
//     These are Gloo's unbound-buffer collectives: a rank posts its receives before data may come.
//     Gloo's older pinned-buffer algorithms (AllreduceRing, AllreduceRingChunked,
//     AllreduceHalvingDoubling) let data arrive before the receiver has registered its buffer,
//     and Gloo's event loop then spins on the unread socket (a core at 100% for as long as a rank
//     is late, and after a failure), so they are not used.
//   - Reduce packs and cuts the bucket alike and runs Gloo's reduce on each piece: the ring's
//     reduce-scatter, then every rank sends its reduced chunk to the root, which alone
//     unpacks. Each rank sends (n-1)/n of the bucket and the root receives (n-1)/n more,
//     against 2(n-1)/n each way for an allreduce. The other ranks' tensors keep their values.
//   - ReduceScatter runs as an allreduce of the tensor, so every part, this rank's included,
//     holds the reduction: twice the traffic of a ring reduce-scatter, but Gloo's own
//     reduce-scatter is one of the older algorithms above.
//   - Broadcast, AllGather (sizes first, then the bytes) and Barrier use Gloo's collectives.
//
// Failures become Status values naming the peer when known:
//   allreduce: rank 1 unreachable (connection closed) after 0.4s: ... (hint: ...)
//   broadcast: timed out after 5s waiting for the other ranks: ... (hint: ...)
// After a failure the Gloo connections are unusable: every later call fails with that error.
//
// stats() counts, per kind, the collectives the worker ran and how long each kept it busy.
//
// Ownership: the runtime shares the communicator (ExecutionEnv); it owns its store reference,
// Gloo context and thread. Destroying it runs what is still queued (each call bounded by the
// timeout), then closes the connections.
// Thread safety: as Communicator.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/collective/communicator.h"
#include "runtime/collective/ordered_worker.h"
#include "runtime/collective/store.h"

namespace fleet {

enum class AllReduceAlgorithm {
  kAuto,   // by size, as above
  kBcube,  // Gloo's bcube (recursive halving and doubling over a base-2 cube)
  kRing,   // Gloo's ring (segmented reduce-scatter and allgather)
};

struct GlooCommunicatorOptions {
  int rank = 0;
  int size = 1;
  // Where the ranks meet; the same store (or the same server) for every rank.
  std::shared_ptr<Store> store;
  // The communicator's keys in the store start with it: communicators that share a store (groups)
  // need different prefixes.
  std::string prefix = "fleet/comm";
  // Where this rank's Gloo connections listen: a host name or address of this machine ...
  std::string host = "127.0.0.1";
  // ... or, when set, a network interface name (e.g. "eth0"), which then wins.
  std::string interface;
  // How long Create waits for the other ranks.
  std::chrono::milliseconds rendezvous_timeout{std::chrono::seconds(300)};
  // How long one collective may wait for the other ranks before it fails.
  std::chrono::milliseconds timeout{std::chrono::seconds(300)};
  AllReduceAlgorithm algorithm = AllReduceAlgorithm::kAuto;
};

class GlooCommunicator final : public Communicator {
 public:
  // Joins the group: blocks until every rank has joined and connected, or fails naming what went
  // wrong (a rank that never came, an address that cannot be bound).
  static absl::StatusOr<std::shared_ptr<GlooCommunicator>> Create(GlooCommunicatorOptions options);
  ~GlooCommunicator() override;

  int rank() const override { return options_.rank; }
  int size() const override { return options_.size; }
  const char* transport() const override { return "gloo (tcp)"; }

  absl::StatusOr<std::shared_ptr<Event>> AllReduce(std::vector<Tensor> tensors,
                                                   ReduceOp op) override;
  absl::StatusOr<std::shared_ptr<Event>> Reduce(std::vector<Tensor> tensors, ReduceOp op,
                                                int root) override;
  absl::StatusOr<std::shared_ptr<Event>> ReduceScatter(Tensor tensor, ReduceOp op) override;
  absl::StatusOr<std::shared_ptr<Event>> Broadcast(std::vector<Tensor> tensors, int root) override;
  absl::StatusOr<std::shared_ptr<Event>> AllGather(
      std::string local, std::shared_ptr<std::vector<std::string>> gathered) override;
  absl::StatusOr<std::shared_ptr<Event>> Barrier() override;
  CommunicatorStats stats() const override { return counters_.Snapshot(); }

 private:
  struct Impl;  // the Gloo side, touched only on the worker's thread (gloo_communicator.cc)
  explicit GlooCommunicator(GlooCommunicatorOptions options);
  // Queues `work` (a collective of `kind` carrying `bytes`) on the worker. It runs unless an
  // earlier collective failed, which then fails it too; Gloo's exceptions become Status values
  // there. The worker counts what it ran in counters_.
  std::shared_ptr<Event> Queue(CollectiveKind kind, int64_t bytes,
                               std::function<absl::Status(Impl&)> work);

  const GlooCommunicatorOptions options_;
  CollectiveCounters counters_;
  std::unique_ptr<Impl> impl_;
  std::unique_ptr<OrderedWorker> worker_;  // destroyed first (see the destructor)
};

}  // namespace fleet
