// NcclCommunicator: a Communicator over NCCL, for tensors in one GPU's memory (one rank per
// GPU, as fleet-launch --gpus starts them).
//
// Create() meets the other ranks through a Store: rank 0 makes NCCL's unique id and publishes
// it there, the others read it (waiting up to the rendezvous timeout, naming the store), then
// every rank joins NCCL's communicator with its non-blocking init, so a rank that never joins
// is a timeout with an error, not a hang.
//
// Collectives run on the communicator's own stream, ordered after the device's compute stream:
// a call records an event on the compute stream, makes the communication stream wait for it
// (the GPU waits, not the host), enqueues the NCCL calls (a bucket is one NCCL group) and
// returns an Event that a host callback on the communication stream completes. The executor
// waits on that Event before an op reads the results, as it does for Gloo. Mean is NCCL's
// ncclAvg. ReduceScatter is ncclReduceScatter in place (this rank's part written, the rest
// left as it was). AllGather of bytes and Barrier go through the store and a one-element
// allreduce.
//
// A rank that dies leaves NCCL's calls waiting forever: the executor's wait on the Event then
// ends at its deadline with DEADLINE_EXCEEDED, and destroying the communicator aborts NCCL's
// communicator (ncclCommAbort) instead of waiting for work that cannot finish.
//
// Tensors: dense f32, f64, f16 or bf16, in the memory of the communicator's GPU; the caller
// keeps them alive and leaves them alone until the Event completes (communicator.h).
// Thread safety: as Communicator (one lock orders the calls).
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "executor/cuda/cuda_device.h"
#include "runtime/collective/communicator.h"
#include "runtime/collective/store.h"

namespace fleet {

struct NcclCommunicatorOptions {
  int rank = 0;
  int size = 1;
  std::shared_ptr<Store> store;
  std::string prefix = "fleet/nccl";  // keys in the store
  CudaDevice* device = nullptr;       // this rank's GPU; outlives the communicator
  std::chrono::milliseconds rendezvous_timeout{std::chrono::seconds(300)};
  // AllGather's and Barrier's waits in the store.
  std::chrono::milliseconds timeout{std::chrono::seconds(300)};
};

class NcclCommunicator final : public Communicator {
 public:
  static absl::StatusOr<std::shared_ptr<NcclCommunicator>> Create(NcclCommunicatorOptions options);
  ~NcclCommunicator() override;

  int rank() const override { return options_.rank; }
  int size() const override { return options_.size; }
  const char* transport() const override { return "nccl"; }

  absl::StatusOr<std::shared_ptr<Event>> AllReduce(std::vector<Tensor> tensors,
                                                   ReduceOp op) override;
  absl::StatusOr<std::shared_ptr<Event>> Reduce(std::vector<Tensor> tensors, ReduceOp op,
                                                int root) override;
  absl::StatusOr<std::shared_ptr<Event>> ReduceScatter(Tensor tensor, ReduceOp op) override;
  absl::StatusOr<std::shared_ptr<Event>> Broadcast(std::vector<Tensor> tensors, int root) override;
  absl::StatusOr<std::shared_ptr<Event>> AllGather(
      std::string local, std::shared_ptr<std::vector<std::string>> gathered) override;
  absl::StatusOr<std::shared_ptr<Event>> Barrier() override;
  CommunicatorStats stats() const override;

  struct State;  // NCCL's communicator, the streams, the counters (nccl_communicator.cc)

 private:
  explicit NcclCommunicator(NcclCommunicatorOptions options);

  // Checks a bucket, makes the communication stream wait for the compute stream, runs `call`
  // (an NCCL collective: the tensor, its ncclDataType_t; returns an ncclResult_t) for every
  // tensor in one NCCL group, and returns the Event a host callback completes.
  absl::StatusOr<std::shared_ptr<Event>> Enqueue(CollectiveKind kind, const char* what,
                                                 std::vector<Tensor> tensors,
                                                 const std::function<int(Tensor&, int)>& call);
  absl::Status CheckRoot(int root, const char* what) const;

  NcclCommunicatorOptions options_;
  std::unique_ptr<State> state_;
};

}  // namespace fleet
