// ShmCommunicator: a Communicator for ranks that are processes (or threads) of one host, through
// a shared-memory segment instead of sockets. NCCL and MPI have the same kind of path.
//
// Create() meets the other ranks through a Store (Rendezvous, then a check that all of them run
// on this host: host_identity.h), after which rank 0 creates the segment (shm_segment.h: a
// memfd, so no name is ever left behind) and the others map it. The segment holds one
// synchronisation slot per rank (shm_sync.h: futexes, no spinning) and a staging area per rank,
// split in three buffers so that a piece of a collective can be filled while the two before it
// are still read. Each piece has one synchronisation point: a rank passes it once its buffer of
// the piece is filled, and waits for the others to pass it before it reads theirs.
//
// AllReduce moves a bucket through the staging areas in pieces of a third of the staging bytes,
// cut in n slices of whole cache lines. Rank r, once every rank has filled piece k:
//   1. copies every reduced slice of piece k - 1 from its owner's buffer straight into its
//      tensors, dividing by the rank count for a mean;
//   2. sums slice r of piece k over every rank's buffer, its own part read straight from its
//      tensors, into its own buffer;
//   3. fills piece k + 1: packs the slices the other ranks sum into its next buffer.
// That is one read of the bucket and one write of the result, with the exchange in between
// staying in the caches, and one wait per piece.
// Step 2 adds in the order GlooCommunicator's allreduce adds (sum_order.h, per `algorithm`), so
// results are bitwise equal to Gloo's, and therefore equal on every rank.
// Reduce runs the same pipeline, adding in the order of Gloo's reduce, except that only the root
// copies the reduced slices out (step 1): the other ranks' tensors are only read and keep their
// values, and they write nothing but their slices' sums into the segment.
// ReduceScatter runs as an allreduce of its tensor (every part ends reduced, this rank's too).
// Broadcast goes through the root's buffers, AllGather through every rank's (lengths first),
// Barrier is one synchronisation point. Every rank checks, at each piece, that the others are
// in the same collective; a mismatch fails all of them with FAILED_PRECONDITION naming both.
//
// Failures: every wait has the timeout; a rank that does not come is named
// (`allreduce: timed out after 5s waiting for rank 1 (shared memory; hint: ...)`), and one that
// died, failed or closed is noticed within ShmSync::kSlice (UNAVAILABLE, naming it). After a
// failure the communicator is unusable: later calls fail at once with that error.
//
// stats() counts, per kind, the collectives the worker ran and how long each kept it busy.
//
// Ownership: the runtime shares the communicator (ExecutionEnv); it owns its mapping of the
// segment, its store reference and its thread. Destroying it runs what is still queued (each
// wait bounded by the timeout), tells the other ranks it left, and unmaps the segment, which
// disappears with the last rank's mapping.
// Thread safety: as Communicator.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/collective/communicator.h"
#include "runtime/collective/gloo_communicator.h"
#include "runtime/collective/ordered_worker.h"
#include "runtime/collective/store.h"

namespace fleet {

struct ShmCommunicatorOptions {
  int rank = 0;
  int size = 1;
  // Where the ranks meet; the same store (or the same server) for every rank.
  std::shared_ptr<Store> store;
  // The communicator's keys in the store start with it (different for groups sharing a store).
  std::string prefix = "fleet/comm";
  // How long Create waits for the other ranks, and one collective for the others.
  std::chrono::milliseconds rendezvous_timeout{std::chrono::seconds(300)};
  std::chrono::milliseconds timeout{std::chrono::seconds(300)};
  // Bytes of staging area per rank (three buffers of a third as much); larger buckets go through
  // in pieces. The same on every rank.
  size_t staging_bytes = size_t{4} << 20;
  // Whose order of additions to follow: GlooCommunicator's with this algorithm.
  AllReduceAlgorithm algorithm = AllReduceAlgorithm::kAuto;
  // What this rank's host is, to be compared with the others'; empty: HostIdentity(). Tests set
  // it to make ranks of one machine look like ranks of two.
  std::string host_identity;
};

class ShmCommunicator final : public Communicator {
 public:
  // Joins the group: blocks until every rank has joined and mapped the segment, or fails naming
  // what went wrong (a rank that never came, a rank on another host: FAILED_PRECONDITION).
  static absl::StatusOr<std::shared_ptr<ShmCommunicator>> Create(ShmCommunicatorOptions options);
  ~ShmCommunicator() override;

  int rank() const override { return options_.rank; }
  int size() const override { return options_.size; }
  const char* transport() const override { return "shared memory"; }

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
  struct Impl;  // the segment and the collectives, touched only on the worker's thread
  explicit ShmCommunicator(ShmCommunicatorOptions options);
  // Queues `work` (a collective of `kind` carrying `bytes`) on the worker. It runs unless an
  // earlier collective failed, which then fails it too. The worker counts what it ran in
  // counters_.
  std::shared_ptr<Event> Queue(CollectiveKind kind, int64_t bytes,
                               std::function<absl::Status(Impl&)> work);

  const ShmCommunicatorOptions options_;
  CollectiveCounters counters_;
  std::unique_ptr<Impl> impl_;
  std::unique_ptr<OrderedWorker> worker_;  // destroyed first (see the destructor)
};

}  // namespace fleet
