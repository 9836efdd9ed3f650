#include "runtime/collective/nccl/nccl_communicator.h"

#include <nccl.h>

#include <cstring>
#include <functional>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "executor/cuda/cuda_api.h"
#include "ir/status_macros.h"
#include "runtime/collective/bucket.h"

namespace fleet {
namespace {

using Clock = std::chrono::steady_clock;

absl::Status NcclStatus(ncclResult_t result, std::string_view what, ncclComm_t comm = nullptr) {
  if (result == ncclSuccess) return absl::OkStatus();
  std::string detail = ncclGetErrorString(result);
  if (comm != nullptr) {
    if (const char* last = ncclGetLastError(comm); last != nullptr && *last != '\0') {
      absl::StrAppend(&detail, ": ", last);
    }
  }
  return absl::InternalError(absl::StrCat(std::string(what), ": NCCL error ",
                                          static_cast<int>(result), " (", detail, ")"));
}

absl::StatusOr<ncclDataType_t> NcclType(const Tensor& t) {
  switch (t.dtype()) {
    case DataType::kF32:
      return ncclFloat32;
    case DataType::kF64:
      return ncclFloat64;
    case DataType::kF16:
      return ncclFloat16;
    case DataType::kBF16:
      return ncclBfloat16;
    default:
      return absl::InvalidArgumentError(absl::StrCat("nccl: a ", DataTypeName(t.dtype()),
                                                     " tensor; expected f32, f64, f16 or bf16"));
  }
}

// What a host callback on the communication stream needs to finish one collective.
struct Pending {
  std::shared_ptr<CompletionEvent> done;
  std::vector<Tensor> tensors;  // kept alive until the GPU is done with them
  CollectiveCounters* counters;
  CollectiveKind kind;
  int64_t bytes;
  Clock::time_point start;
};

void CUDART_CB Finish(void* data) {
  std::unique_ptr<Pending> pending(static_cast<Pending*>(data));
  pending->counters->Add(pending->kind, pending->bytes, Clock::now() - pending->start);
  pending->done->Complete();  // no CUDA call here: callbacks may not make any
}

}  // namespace

struct NcclCommunicator::State {
  std::mutex mu;  // orders the calls
  ncclComm_t comm = nullptr;
  cudaStream_t stream = nullptr;  // communication
  cudaStream_t compute = nullptr;
  Tensor one;  // Barrier's element, on the GPU
  int64_t gathers = 0;
  CollectiveCounters counters;
  bool failed = false;
};

NcclCommunicator::NcclCommunicator(NcclCommunicatorOptions options)
    : options_(std::move(options)), state_(std::make_unique<State>()) {}

absl::StatusOr<std::shared_ptr<NcclCommunicator>> NcclCommunicator::Create(
    NcclCommunicatorOptions options) {
  if (options.store == nullptr || options.device == nullptr) {
    return absl::InvalidArgumentError("nccl: a communicator needs a store and a CUDA device");
  }
  if (options.size < 1 || options.rank < 0 || options.rank >= options.size) {
    return absl::InvalidArgumentError(
        absl::StrCat("nccl: rank ", options.rank, " of ", options.size, " ranks"));
  }
  std::shared_ptr<NcclCommunicator> self(new NcclCommunicator(std::move(options)));
  const NcclCommunicatorOptions& o = self->options_;
  State& s = *self->state_;
  Store& store = *o.store;

  // Every rank says it is here before NCCL starts: NCCL's own init cannot name a missing rank.
  FLEET_RETURN_IF_ERROR(store.Set(absl::StrCat(o.prefix, "/joined/", o.rank), "1"));
  std::vector<std::string> keys;
  for (int r = 0; r < o.size; ++r) keys.push_back(absl::StrCat(o.prefix, "/joined/", r));
  std::vector<std::string> missing;
  if (absl::Status joined = store.Wait(keys, o.rendezvous_timeout, &missing); !joined.ok()) {
    std::vector<std::string> ranks;
    for (const std::string& key : missing) ranks.push_back(key.substr(key.rfind('/') + 1));
    return absl::DeadlineExceededError(
        absl::StrCat("nccl rendezvous at ", store.Describe(), " timed out after ",
                     o.rendezvous_timeout.count() / 1000.0, "s: ranks ", absl::StrJoin(ranks, ", "),
                     " of ", o.size, " never arrived"));
  }

  ncclUniqueId id;
  const std::string id_key = absl::StrCat(o.prefix, "/unique_id");
  if (o.rank == 0) {
    FLEET_RETURN_IF_ERROR(NcclStatus(ncclGetUniqueId(&id), "ncclGetUniqueId"));
    FLEET_RETURN_IF_ERROR(
        store.Set(id_key, std::string(reinterpret_cast<const char*>(&id), sizeof(id))));
  } else {
    FLEET_RETURN_IF_ERROR(store.Wait({id_key}, o.rendezvous_timeout));
    FLEET_ASSIGN_OR_RETURN(std::string bytes, store.Get(id_key));
    if (bytes.size() != sizeof(id)) {
      return absl::DataLossError(absl::StrCat("nccl: the unique id in ", store.Describe(), " has ",
                                              bytes.size(), " bytes; expected ", sizeof(id)));
    }
    std::memcpy(&id, bytes.data(), sizeof(id));
  }

  FLEET_RETURN_IF_ERROR(o.device->MakeCurrent());
  s.compute = static_cast<cudaStream_t>(o.device->stream());
  FLEET_CUDA_RETURN_IF_ERROR(cudaStreamCreateWithFlags(&s.stream, cudaStreamNonBlocking));
  FLEET_RETURN_IF_ERROR(
      NcclStatus(ncclCommInitRank(&s.comm, o.size, id, o.rank), "ncclCommInitRank"));
  s.one = Tensor::Zeros(DataType::kF32, {1}, o.device->allocator());
  return self;
}

NcclCommunicator::~NcclCommunicator() {
  State& s = *state_;
  options_.device->MakeCurrent().IgnoreError();
  if (s.comm != nullptr) {
    // Work that a dead peer holds up never finishes: abort instead of waiting for it.
    if (s.failed || cudaStreamQuery(s.stream) != cudaSuccess) {
      ncclCommAbort(s.comm);
    } else {
      ncclCommDestroy(s.comm);
    }
  }
  if (s.stream != nullptr) {
    // The host callbacks still queued (an aborted call's) read this State: let them run first.
    cudaStreamSynchronize(s.stream);
    cudaGetLastError();
    cudaStreamDestroy(s.stream);
  }
}

namespace {

// Checks a bucket: dense tensors of one NCCL type in the memory of `device`.
absl::StatusOr<ncclDataType_t> CheckBucket(const std::vector<Tensor>& tensors, DeviceId device,
                                           const char* what) {
  if (tensors.empty()) return absl::InvalidArgumentError(absl::StrCat(what, ": no tensors"));
  FLEET_ASSIGN_OR_RETURN(ncclDataType_t type, NcclType(tensors[0]));
  for (size_t i = 0; i < tensors.size(); ++i) {
    const Tensor& t = tensors[i];
    if (t.dtype() != tensors[0].dtype()) {
      return absl::InvalidArgumentError(absl::StrCat(what, ": tensor ", i, " is ",
                                                     DataTypeName(t.dtype()), ", tensor 0 ",
                                                     DataTypeName(tensors[0].dtype())));
    }
    if (t.device() != device) {
      return absl::InvalidArgumentError(absl::StrCat(what, ": tensor ", i, " is on ",
                                                     t.device().ToString(),
                                                     "; this rank's NCCL "
                                                     "communicator works on ",
                                                     device.ToString()));
    }
  }
  return type;
}

}  // namespace

absl::StatusOr<std::shared_ptr<Event>> NcclCommunicator::Enqueue(
    CollectiveKind kind, const char* what, std::vector<Tensor> tensors,
    const std::function<int(Tensor&, int)>& call) {
  const DeviceId device(Device::kCuda, options_.device->ordinal());
  FLEET_ASSIGN_OR_RETURN(ncclDataType_t type, CheckBucket(tensors, device, what));
  State& s = *state_;
  std::lock_guard<std::mutex> lock(s.mu);
  FLEET_RETURN_IF_ERROR(options_.device->MakeCurrent());
  auto pending = std::make_unique<Pending>();
  pending->start = Clock::now();
  // The communication stream starts once the compute stream has produced the tensors.
  cudaEvent_t ready = nullptr;
  FLEET_CUDA_RETURN_IF_ERROR(cudaEventCreateWithFlags(&ready, cudaEventDisableTiming));
  cudaEventRecord(ready, s.compute);
  cudaStreamWaitEvent(s.stream, ready, 0);
  cudaEventDestroy(ready);
  int64_t bytes = 0;
  FLEET_RETURN_IF_ERROR(NcclStatus(ncclGroupStart(), "ncclGroupStart"));
  for (Tensor& t : tensors) {
    bytes += static_cast<int64_t>(t.nbytes());
    const auto r = static_cast<ncclResult_t>(call(t, static_cast<int>(type)));
    if (r != ncclSuccess) {
      ncclGroupEnd();
      s.failed = true;
      return NcclStatus(r, what, s.comm);
    }
  }
  if (absl::Status ended = NcclStatus(ncclGroupEnd(), "ncclGroupEnd", s.comm); !ended.ok()) {
    s.failed = true;
    return ended;
  }
  auto done = std::make_shared<CompletionEvent>();
  pending->done = done;
  pending->tensors = std::move(tensors);
  pending->counters = &s.counters;
  pending->kind = kind;
  pending->bytes = bytes;
  FLEET_CUDA_RETURN_IF_ERROR(cudaLaunchHostFunc(s.stream, &Finish, pending.get()));
  pending.release();  // Finish owns it now
  return std::shared_ptr<Event>(done);
}

absl::StatusOr<std::shared_ptr<Event>> NcclCommunicator::AllReduce(std::vector<Tensor> tensors,
                                                                   ReduceOp op) {
  State& s = *state_;
  const ncclRedOp_t red = op == ReduceOp::kMean ? ncclAvg : ncclSum;
  return Enqueue(CollectiveKind::kAllReduce, "nccl allreduce", std::move(tensors),
                 [&s, red](Tensor& t, int type) {
                   return static_cast<int>(ncclAllReduce(
                       t.raw_data(), t.raw_data(), static_cast<size_t>(t.numel()),
                       static_cast<ncclDataType_t>(type), red, s.comm, s.stream));
                 });
}

absl::StatusOr<std::shared_ptr<Event>> NcclCommunicator::Reduce(std::vector<Tensor> tensors,
                                                                ReduceOp op, int root) {
  FLEET_RETURN_IF_ERROR(CheckRoot(root, "nccl reduce"));
  State& s = *state_;
  const ncclRedOp_t red = op == ReduceOp::kMean ? ncclAvg : ncclSum;
  return Enqueue(CollectiveKind::kReduce, "nccl reduce", std::move(tensors),
                 [&s, red, root](Tensor& t, int type) {
                   return static_cast<int>(ncclReduce(
                       t.raw_data(), t.raw_data(), static_cast<size_t>(t.numel()),
                       static_cast<ncclDataType_t>(type), red, root, s.comm, s.stream));
                 });
}

// ncclReduceScatter in place: NCCL reads the whole tensor and writes this rank's part of it,
// which starts `rank * part` elements in (NCCL's in-place form).
absl::StatusOr<std::shared_ptr<Event>> NcclCommunicator::ReduceScatter(Tensor tensor,
                                                                       ReduceOp op) {
  FLEET_RETURN_IF_ERROR(CheckEqualParts(tensor, options_.size));
  State& s = *state_;
  const ncclRedOp_t red = op == ReduceOp::kMean ? ncclAvg : ncclSum;
  const int rank = options_.rank;
  const size_t part = static_cast<size_t>(tensor.numel()) / static_cast<size_t>(options_.size);
  return Enqueue(CollectiveKind::kReduceScatter, "nccl reduce_scatter", {std::move(tensor)},
                 [&s, red, rank, part](Tensor& t, int type) {
                   char* whole = static_cast<char*>(t.raw_data());
                   char* mine = whole + rank * part * DataTypeSize(t.dtype());
                   return static_cast<int>(ncclReduceScatter(
                       whole, mine, part, static_cast<ncclDataType_t>(type), red, s.comm,
                       s.stream));
                 });
}

absl::StatusOr<std::shared_ptr<Event>> NcclCommunicator::Broadcast(std::vector<Tensor> tensors,
                                                                   int root) {
  FLEET_RETURN_IF_ERROR(CheckRoot(root, "nccl broadcast"));
  State& s = *state_;
  return Enqueue(CollectiveKind::kBroadcast, "nccl broadcast", std::move(tensors),
                 [&s, root](Tensor& t, int type) {
                   return static_cast<int>(ncclBroadcast(
                       t.raw_data(), t.raw_data(), static_cast<size_t>(t.numel()),
                       static_cast<ncclDataType_t>(type), root, s.comm, s.stream));
                 });
}

absl::Status NcclCommunicator::CheckRoot(int root, const char* what) const {
  if (root >= 0 && root < options_.size) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat(what, ": root ", root, " of ", options_.size, " ranks"));
}

absl::StatusOr<std::shared_ptr<Event>> NcclCommunicator::AllGather(
    std::string local, std::shared_ptr<std::vector<std::string>> gathered) {
  // Host bytes (sparse-row metadata and the like): through the store, which every rank reaches.
  State& s = *state_;
  const Clock::time_point start = Clock::now();
  int64_t round;
  {
    std::lock_guard<std::mutex> lock(s.mu);
    round = s.gathers++;
  }
  Store& store = *options_.store;
  const std::string base = absl::StrCat(options_.prefix, "/allgather/", round, "/");
  FLEET_RETURN_IF_ERROR(store.Set(absl::StrCat(base, options_.rank), local));
  std::vector<std::string> keys;
  for (int r = 0; r < options_.size; ++r) keys.push_back(absl::StrCat(base, r));
  FLEET_RETURN_IF_ERROR(store.Wait(keys, options_.timeout));
  gathered->assign(static_cast<size_t>(options_.size), "");
  for (int r = 0; r < options_.size; ++r) {
    FLEET_ASSIGN_OR_RETURN((*gathered)[static_cast<size_t>(r)], store.Get(keys[r]));
  }
  s.counters.Add(CollectiveKind::kAllGather, static_cast<int64_t>(local.size()),
                 Clock::now() - start);
  auto done = std::make_shared<CompletionEvent>();
  done->Complete();
  return std::shared_ptr<Event>(done);
}

absl::StatusOr<std::shared_ptr<Event>> NcclCommunicator::Barrier() {
  // Completes once every rank has added its zero: an allreduce of one element.
  FLEET_ASSIGN_OR_RETURN(std::shared_ptr<Event> done, AllReduce({state_->one}, ReduceOp::kSum));
  return done;
}

CommunicatorStats NcclCommunicator::stats() const { return state_->counters.Snapshot(); }

}  // namespace fleet
