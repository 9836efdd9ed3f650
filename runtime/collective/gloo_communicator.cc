#include "runtime/collective/gloo_communicator.h"

#include <gloo/allgather.h>
#include <gloo/allgatherv.h>
#include <gloo/allreduce.h>
#include <gloo/barrier.h>
#include <gloo/broadcast.h>
#include <gloo/reduce.h>
#include <gloo/rendezvous/context.h>
#include <gloo/transport/tcp/address.h>
#include <gloo/transport/tcp/device.h>

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "ir/status_macros.h"
#include "runtime/collective/bucket.h"
#include "runtime/collective/gloo_errors.h"
#include "runtime/collective/gloo_store.h"
#include "runtime/collective/sum_order.h"
#include "runtime/collective/timeout.h"

namespace fleet {
namespace {

using SteadyClock = std::chrono::steady_clock;

gloo::AllreduceOptions::Algorithm GlooAlgorithm(AllReduceAlgorithm requested, size_t bytes) {
  return GlooAlgorithmFor(requested, bytes) == AllReduceAlgorithm::kBcube
             ? gloo::AllreduceOptions::Algorithm::BCUBE
             : gloo::AllreduceOptions::Algorithm::RING;
}

// One Gloo allreduce (sum) of `count` elements of T at `data`, in place, or with `root` >= 0 one
// Gloo reduce (sum) onto `root` (its ring reduce-scatter, then a gather of the chunks there;
// elsewhere `data` ends with partial sums).
template <typename T>
void SumInPlace(const std::shared_ptr<gloo::Context>& context, T* data, size_t count, int root,
                gloo::AllreduceOptions::Algorithm algorithm, uint32_t tag,
                std::chrono::milliseconds timeout) {
  const auto sum = static_cast<void (*)(void*, const void*, const void*, size_t)>(&gloo::sum<T>);
  if (root >= 0) {
    gloo::ReduceOptions opts(context);
    opts.setOutput(data, count);
    opts.setRoot(root);
    opts.setReduceFunction(sum);
    opts.setTag(tag);
    opts.setTimeout(timeout);
    gloo::reduce(opts);
    return;
  }
  gloo::AllreduceOptions opts(context);
  opts.setAlgorithm(algorithm);
  opts.setOutput(data, count);
  opts.setReduceFunction(sum);
  opts.setTag(tag);
  opts.setTimeout(timeout);
  gloo::allreduce(opts);
}

std::chrono::milliseconds Since(SteadyClock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(SteadyClock::now() - start);
}

}  // namespace

// The Gloo side of a communicator; used on the worker's thread only.
struct GlooCommunicator::Impl {
  explicit Impl(const GlooCommunicatorOptions& o) : options(o) {}

  // Meets the other ranks and connects to them; errors start with "rank N: ".
  absl::Status Connect();
  absl::Status ConnectSteps();
  // For each rank, the addresses Gloo may print for it (see PeerAddresses).
  absl::StatusOr<std::vector<std::vector<std::string>>> PeerNames(const std::string& gloo_prefix);
  // AllReduce (root -1) or Reduce onto `root`.
  absl::Status Reduce(std::vector<Tensor>& tensors, ReduceOp op, int root);
  absl::Status Broadcast(std::vector<Tensor>& tensors, int root);
  absl::Status AllGather(const std::string& local, std::vector<std::string>& gathered);
  absl::Status Barrier();
  // The fused buffer, grown to at least `bytes`.
  void* FusedBuffer(size_t bytes);

  const GlooCommunicatorOptions& options;
  std::shared_ptr<gloo::rendezvous::Context> context;  // null in a group of one
  PeerAddresses peers;
  std::vector<double> fused;  // the packed bucket (double: aligned for f32 and f64), kept
  uint32_t next_tag = 0;      // Gloo's collectives want a tag; every rank counts alike
  absl::Status failed;        // the first failure of a collective
};

absl::Status GlooCommunicator::Impl::Connect() {
  absl::Status status = ConnectSteps();
  if (status.ok()) return status;
  return absl::Status(status.code(), absl::StrCat("rank ", options.rank, ": ", status.message()));
}

absl::Status GlooCommunicator::Impl::ConnectSteps() {
  const GlooCommunicatorOptions& o = options;
  FLEET_RETURN_IF_ERROR(Rendezvous(*o.store, o.prefix, o.rank, o.size, o.rendezvous_timeout));
  if (o.size == 1) return absl::OkStatus();

  std::shared_ptr<gloo::transport::Device> device;
  try {
    gloo::transport::tcp::attr attr;
    if (o.interface.empty()) {
      attr.hostname = o.host;
    } else {
      attr.iface = o.interface;
    }
    device = gloo::transport::tcp::CreateDevice(attr);
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot listen on ",
                     o.interface.empty() ? absl::StrCat("host '", o.host, "'")
                                         : absl::StrCat("interface '", o.interface, "'"),
                     ": ", e.what(),
                     " (hint: GlooCommunicatorOptions::host or interface must name this machine)"));
  }

  const std::string gloo_prefix = absl::StrCat(o.prefix, "/gloo");
  GlooStore store(*o.store, gloo_prefix, o.rendezvous_timeout);
  const auto start = SteadyClock::now();
  try {
    auto connected = std::make_shared<gloo::rendezvous::Context>(o.rank, o.size);
    connected->setTimeout(o.timeout);
    connected->connectFullMesh(store, device);
    context = std::move(connected);
  } catch (const std::exception& e) {
    if (!store.error().ok()) {
      return absl::Status(store.error().code(), absl::StrCat("connect: ", store.error().message()));
    }
    return GlooFailure("connect", e, peers, Since(start), o.timeout);
  }

  absl::StatusOr<std::vector<std::vector<std::string>>> names;
  try {
    names = PeerNames(gloo_prefix);
  } catch (const std::exception& e) {
    names = absl::InternalError(absl::StrCat("connect: reading the peers' addresses: ", e.what()));
  }
  if (!names.ok()) return names.status();
  peers = PeerAddresses(o.rank, *std::move(names));
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::vector<std::string>>> GlooCommunicator::Impl::PeerNames(
    const std::string& gloo_prefix) {
  const GlooCommunicatorOptions& o = options;
  // A pair's end changes address when it connects: the listening side keeps the address it
  // published, the connecting side takes a fresh one, which only it knows. Each rank publishes
  // its ends as they are now, one line per rank.
  std::vector<std::string> ends(o.size);
  for (int r = 0; r < o.size; ++r) {
    if (r != o.rank) ends[r] = context->getPair(r)->address().str();
  }
  const std::string prefix = absl::StrCat(o.prefix, "/ends/");
  FLEET_RETURN_IF_ERROR(o.store->Set(absl::StrCat(prefix, o.rank), absl::StrJoin(ends, "\n")));
  std::vector<std::string> keys;
  for (int r = 0; r < o.size; ++r) keys.push_back(absl::StrCat(prefix, r));
  FLEET_RETURN_IF_ERROR(o.store->Wait(keys, o.rendezvous_timeout));

  std::vector<std::vector<std::string>> names(o.size);
  for (int r = 0; r < o.size; ++r) {
    if (r == o.rank) continue;
    FLEET_ASSIGN_OR_RETURN(std::string now, o.store->Get(keys[r]));
    std::vector<std::string> lines = absl::StrSplit(now, '\n');
    if (static_cast<int>(lines.size()) == o.size) names[r].push_back(lines[o.rank]);
    // What r published for Gloo's connect: its ends in the order of the other ranks.
    FLEET_ASSIGN_OR_RETURN(std::string published, o.store->Get(absl::StrCat(gloo_prefix, "/", r)));
    if (published.size() % (o.size - 1) != 0) continue;
    const size_t each = published.size() / (o.size - 1);
    const size_t index = o.rank < r ? o.rank : o.rank - 1;
    std::vector<char> bytes(published.begin() + index * each,
                            published.begin() + (index + 1) * each);
    names[r].push_back(gloo::transport::tcp::Address(bytes).str());
  }
  return names;
}

absl::Status GlooCommunicator::Impl::Reduce(std::vector<Tensor>& tensors, ReduceOp op, int root) {
  // A group of one holds the sum already, and the mean divides it by 1.
  if (context == nullptr || tensors.empty()) return absl::OkStatus();
  const DataType dtype = tensors[0].dtype();
  const size_t element = DataTypeSize(dtype);
  const int64_t total = BucketElements(tensors);
  const int64_t piece = static_cast<int64_t>(kGlooPieceBytes / element);
  for (int64_t offset = 0; offset < total; offset += piece) {
    const int64_t count = std::min(piece, total - offset);
    void* data = FusedBuffer(static_cast<size_t>(count) * element);
    PackBucket(tensors, offset, count, data);
    const auto algorithm = GlooAlgorithm(options.algorithm, count * element);
    if (dtype == DataType::kF64) {
      SumInPlace(context, static_cast<double*>(data), count, root, algorithm, next_tag++,
                 options.timeout);
    } else {
      SumInPlace(context, static_cast<float*>(data), count, root, algorithm, next_tag++,
                 options.timeout);
    }
    // A reduce leaves the other ranks' tensors as they were: only the root unpacks.
    if (root < 0 || root == options.rank) {
      UnpackBucket(data, offset, count, op == ReduceOp::kMean ? options.size : 1, tensors);
    }
  }
  return absl::OkStatus();
}

void* GlooCommunicator::Impl::FusedBuffer(size_t bytes) {
  const size_t doubles = (bytes + sizeof(double) - 1) / sizeof(double);
  if (fused.size() < doubles) fused.resize(doubles);
  return fused.data();
}

absl::Status GlooCommunicator::Impl::Broadcast(std::vector<Tensor>& tensors, int root) {
  if (context == nullptr || tensors.empty()) return absl::OkStatus();
  const int64_t total = BucketElements(tensors);
  const size_t bytes = static_cast<size_t>(total) * DataTypeSize(tensors[0].dtype());
  if (bytes == 0) return absl::OkStatus();
  const bool packed = tensors.size() > 1;
  char* data = static_cast<char*>(tensors[0].raw_data());
  if (packed) {
    data = static_cast<char*>(FusedBuffer(bytes));
    if (options.rank == root) PackBucket(tensors, 0, total, data);
  }
  gloo::BroadcastOptions opts(context);
  opts.setRoot(root);
  opts.setTag(next_tag++);
  opts.setTimeout(options.timeout);
  opts.setOutput(reinterpret_cast<uint8_t*>(data), bytes);
  gloo::broadcast(opts);
  if (packed && options.rank != root) UnpackBucket(data, 0, total, 1, tensors);
  return absl::OkStatus();
}

absl::Status GlooCommunicator::Impl::AllGather(const std::string& local,
                                               std::vector<std::string>& gathered) {
  if (context == nullptr) {
    gathered = {local};
    return absl::OkStatus();
  }
  int64_t mine = static_cast<int64_t>(local.size());
  std::vector<int64_t> sizes(options.size);
  gloo::AllgatherOptions size_opts(context);
  size_opts.setInput(&mine, 1);
  size_opts.setOutput(sizes.data(), sizes.size());
  size_opts.setTag(next_tag++);
  size_opts.setTimeout(options.timeout);
  gloo::allgather(size_opts);

  std::vector<size_t> counts;
  size_t total = 0;
  for (int r = 0; r < options.size; ++r) {
    if (sizes[r] < 0) {
      return absl::InternalError(absl::StrCat("allgather: rank ", r, " sent a size of ", sizes[r]));
    }
    counts.push_back(static_cast<size_t>(sizes[r]));
    total += counts.back();
  }
  std::string all(total, '\0');
  if (total > 0) {
    gloo::AllgathervOptions opts(context);
    opts.setInput(const_cast<char*>(local.data()), local.size());
    opts.setOutput(all.data(), counts);
    opts.setTag(next_tag++);
    opts.setTimeout(options.timeout);
    gloo::allgatherv(opts);
  }
  gathered.assign(options.size, std::string());
  size_t at = 0;
  for (int r = 0; r < options.size; ++r) {
    gathered[r] = all.substr(at, counts[r]);
    at += counts[r];
  }
  return absl::OkStatus();
}

absl::Status GlooCommunicator::Impl::Barrier() {
  if (context == nullptr) return absl::OkStatus();
  gloo::BarrierOptions opts(context);
  opts.setTag(next_tag++);
  opts.setTimeout(options.timeout);
  gloo::barrier(opts);
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<GlooCommunicator>> GlooCommunicator::Create(
    GlooCommunicatorOptions options) {
  if (options.store == nullptr) {
    return absl::InvalidArgumentError("GlooCommunicator: no store to meet the other ranks in");
  }
  if (options.size < 1 || options.rank < 0 || options.rank >= options.size) {
    return absl::InvalidArgumentError(absl::StrCat("GlooCommunicator: rank ", options.rank, " of ",
                                                   options.size, "; expected 0 <= rank < size"));
  }
  if (options.timeout.count() <= 0 || options.rendezvous_timeout.count() <= 0) {
    return absl::InvalidArgumentError("GlooCommunicator: timeouts must be positive");
  }
  std::shared_ptr<GlooCommunicator> comm(new GlooCommunicator(std::move(options)));
  // Connect on the worker's thread: the threads Gloo starts inherit its blocked SIGPIPE.
  std::shared_ptr<CompletionEvent> connected = comm->worker_->Run([c = comm.get()] {
    try {
      return c->impl_->Connect();
    } catch (const std::exception& e) {
      return absl::InternalError(absl::StrCat("rank ", c->rank(), ": connect: ", e.what()));
    }
  });
  // Connect is bounded by its own deadlines; this one only keeps the wait finite.
  const auto bound = comm->options_.rendezvous_timeout * 2 + comm->options_.timeout * 2;
  FLEET_RETURN_IF_ERROR(connected->Wait(Clock::now() + bound));
  return comm;
}

GlooCommunicator::GlooCommunicator(GlooCommunicatorOptions options)
    : options_(std::move(options)),
      impl_(std::make_unique<Impl>(options_)),
      worker_(std::make_unique<OrderedWorker>()) {}

GlooCommunicator::~GlooCommunicator() {
  worker_.reset();  // runs what is queued, then stops: nothing touches impl_ after this
}

std::shared_ptr<Event> GlooCommunicator::Queue(CollectiveKind kind, int64_t bytes,
                                               std::function<absl::Status(Impl&)> work) {
  return worker_->Run([this, kind, bytes, work = std::move(work)]() -> absl::Status {
    const std::string op(CollectiveKindName(kind));
    Impl& impl = *impl_;
    if (!impl.failed.ok()) {
      return absl::Status(
          impl.failed.code(),
          absl::StrCat(op, ": not run; an earlier collective failed: ", impl.failed.message()));
    }
    const auto start = SteadyClock::now();
    absl::Status status;
    try {
      status = work(impl);
    } catch (const std::exception& e) {
      status = GlooFailure(op, e, impl.peers, Since(start), options_.timeout);
    }
    counters_.Add(kind, bytes, SteadyClock::now() - start);
    if (!status.ok()) impl.failed = status;
    return status;
  });
}

absl::StatusOr<std::shared_ptr<Event>> GlooCommunicator::AllReduce(std::vector<Tensor> tensors,
                                                                   ReduceOp op) {
  FLEET_RETURN_IF_ERROR(CheckBucket("allreduce", tensors));
  const int64_t bytes = BucketBytes(tensors);
  return Queue(CollectiveKind::kAllReduce, bytes,
               [tensors = std::move(tensors), op](Impl& impl) mutable {
                 return impl.Reduce(tensors, op, /*root=*/-1);
               });
}

absl::StatusOr<std::shared_ptr<Event>> GlooCommunicator::Reduce(std::vector<Tensor> tensors,
                                                                ReduceOp op, int root) {
  FLEET_RETURN_IF_ERROR(CheckBucket("reduce", tensors));
  if (root < 0 || root >= size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("reduce: root ", root, " is not a rank of this group of ", size()));
  }
  const int64_t bytes = BucketBytes(tensors);
  return Queue(CollectiveKind::kReduce, bytes,
               [tensors = std::move(tensors), op, root](Impl& impl) mutable {
                 return impl.Reduce(tensors, op, root);
               });
}

// An allreduce of the tensor: every part holds the reduction, this rank's included.
absl::StatusOr<std::shared_ptr<Event>> GlooCommunicator::ReduceScatter(Tensor tensor, ReduceOp op) {
  std::vector<Tensor> tensors = {std::move(tensor)};
  FLEET_RETURN_IF_ERROR(CheckBucket("reduce_scatter", tensors));
  FLEET_RETURN_IF_ERROR(CheckEqualParts(tensors[0], size()));
  const int64_t bytes = BucketBytes(tensors);
  return Queue(CollectiveKind::kReduceScatter, bytes,
               [tensors = std::move(tensors), op](Impl& impl) mutable {
                 return impl.Reduce(tensors, op, /*root=*/-1);
               });
}

absl::StatusOr<std::shared_ptr<Event>> GlooCommunicator::Broadcast(std::vector<Tensor> tensors,
                                                                   int root) {
  FLEET_RETURN_IF_ERROR(CheckBucket("broadcast", tensors));
  if (root < 0 || root >= size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("broadcast: root ", root, " is not a rank of this group of ", size()));
  }
  const int64_t bytes = BucketBytes(tensors);
  return Queue(CollectiveKind::kBroadcast, bytes,
               [tensors = std::move(tensors), root](Impl& impl) mutable {
                 return impl.Broadcast(tensors, root);
               });
}

absl::StatusOr<std::shared_ptr<Event>> GlooCommunicator::AllGather(
    std::string local, std::shared_ptr<std::vector<std::string>> gathered) {
  if (gathered == nullptr) return absl::InvalidArgumentError("allgather: no output vector");
  const auto bytes = static_cast<int64_t>(local.size());
  return Queue(CollectiveKind::kAllGather, bytes, [local = std::move(local), gathered](Impl& impl) {
    return impl.AllGather(local, *gathered);
  });
}

absl::StatusOr<std::shared_ptr<Event>> GlooCommunicator::Barrier() {
  return Queue(CollectiveKind::kBarrier, 0, [](Impl& impl) { return impl.Barrier(); });
}

}  // namespace fleet
