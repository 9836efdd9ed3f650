// Communicator: the collective operations of one rank in a group of ranks, as the collective
// kernels (runtime/collective/kernels.cc) and the runtime use them. GlooCommunicator
// (gloo_communicator.h) implements it over TCP, ShmCommunicator (shm_communicator.h) over shared
// memory between the ranks of one host; CreateCommunicator (create_communicator.h) picks one.
// NcclCommunicator (nccl/nccl_communicator.h) carries tensors in a GPU's memory.
//
// The runtime installs one per rank in the rank's ExecutionEnv, under this interface's type, and
// on a GPU rank a second one for device memory beside it (DeviceCommunicator, below):
//
//   env->Set<Communicator>(std::move(communicator));      // kernels: ctx.env().Get<Communicator>()
//
// Every collective is asynchronous: the call checks its arguments, queues the operation and
// returns an Event (executor/event.h) that completes when the operation has finished on this
// rank, with OK or the error that stopped it. The operations of one communicator run one at a
// time in the order they were issued, so every rank must issue the same collectives in the same
// order; a rank that issues another one, or none, makes the others fail at their timeout.
//
// Tensors are host tensors, dense, f32 or f64; the caller keeps them (or copies of them: a Tensor
// shares its buffer) alive and leaves their memory alone until the event completes.
//
// Thread safety: all methods may be called from any thread. Calls made from several threads are
// queued in the order their calls reach the communicator.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "executor/event.h"
#include "executor/tensor.h"
#include "runtime/collective/collective_stats.h"

namespace fleet {

enum class ReduceOp {
  kSum,
  kMean,  // the sum divided by the number of ranks
};

class Communicator {
 public:
  virtual ~Communicator() = default;

  // This rank, in [0, size()).
  virtual int rank() const = 0;
  // The number of ranks in the group.
  virtual int size() const = 0;
  // What carries the collectives, for logs: "gloo (tcp)", "shared memory".
  virtual const char* transport() const = 0;

  // Replaces every tensor with the elementwise reduction of that tensor over all ranks, in place.
  // The tensors form one fused bucket (one collective call carries all of them); they must have
  // one dtype, and the same shapes in the same order on every rank. INVALID_ARGUMENT (at once)
  // for other dtypes, sparse rows or memory the host cannot read.
  virtual absl::StatusOr<std::shared_ptr<Event>> AllReduce(std::vector<Tensor> tensors,
                                                           ReduceOp op) = 0;

  // Reduces every tensor over all ranks onto rank `root`: there, when the event completes OK,
  // each tensor holds the elementwise reduction, in place. The other ranks' tensors are only
  // read and keep their values. Same buckets and errors as AllReduce; `root` must be a rank of
  // the group (INVALID_ARGUMENT at once). Cheaper than AllReduce: the result travels to one rank
  // only.
  virtual absl::StatusOr<std::shared_ptr<Event>> Reduce(std::vector<Tensor> tensors, ReduceOp op,
                                                        int root) = 0;

  // Reduce-scatter of one tensor, in place: its elements are split into size() equal parts, and
  // when the event completes OK part rank() holds that part's elementwise reduction over all
  // ranks; what the other parts hold then is unspecified. The element count must be a multiple
  // of size() (INVALID_ARGUMENT at once); dtype and memory as for AllReduce. What a sharded
  // update needs: each rank reduces, then updates, only its own part.
  virtual absl::StatusOr<std::shared_ptr<Event>> ReduceScatter(Tensor tensor, ReduceOp op) = 0;

  // Replaces every tensor with rank `root`'s, in place (on `root` they are read only).
  virtual absl::StatusOr<std::shared_ptr<Event>> Broadcast(std::vector<Tensor> tensors,
                                                           int root) = 0;

  // Gathers every rank's `local` bytes, of any length each: when the event completes OK,
  // (*gathered)[r] holds rank r's bytes. The communicator shares ownership of `gathered` until
  // then.
  virtual absl::StatusOr<std::shared_ptr<Event>> AllGather(
      std::string local, std::shared_ptr<std::vector<std::string>> gathered) = 0;

  // Completes once every rank has reached its barrier.
  virtual absl::StatusOr<std::shared_ptr<Event>> Barrier() = 0;

  // Per kind, the collectives this communicator has run so far (collective_stats.h). Cheap;
  // any thread, any time.
  virtual CommunicatorStats stats() const = 0;
};

// The communicator of a rank's tensors in device memory (an NcclCommunicator on a GPU rank), as
// a service of the ExecutionEnv. It lives beside the host's Communicator, which keeps carrying
// host tensors (the startup's broadcast, sparse rows, checkpoints): the collective kernels of a
// device find this one, the host's kernels the other.
//
//   env->Set(std::make_shared<DeviceCommunicator>(DeviceCommunicator{nccl}));
struct DeviceCommunicator {
  std::shared_ptr<Communicator> communicator;
};

}  // namespace fleet
