#include "runtime/collective/shm_communicator.h"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>
#include <utility>

#include "absl/strings/str_cat.h"
#include "ir/dtype.h"
#include "ir/status_macros.h"
#include "runtime/collective/bucket.h"
#include "runtime/collective/host_identity.h"
#include "runtime/collective/shm_segment.h"
#include "runtime/collective/shm_sync.h"
#include "runtime/collective/sum_order.h"

namespace fleet {
namespace {

constexpr size_t kLine = 64;
// Buffers per rank: piece g uses buffer g % kBuffers, and a rank reads a piece's buffers at the
// latest until it has filled the piece after next, so the third one is always free to fill.
constexpr int kBuffers = 3;
// Results of buckets from this size on are written around the caches (stream_store.h): they
// would not stay in them, and not reading the destinations in first saves a third of the
// memory traffic. (From 8 MiB on it cost 10-20% at 8 and 16 MB on the 2-core test machine,
// whose caches still hold such buckets.)
constexpr int64_t kStreamBytes = int64_t{32} << 20;
// The smallest staging area: room for a piece of a few cache lines per rank.
constexpr size_t kMinStagingBytes = 4096;

enum class Kind : uint32_t { kAllReduce = 1, kBroadcast, kAllGather, kBarrier, kReduce };

// What a rank is doing with a buffer: written at the start of each piece, read by the others
// after they waited for the piece, so that ranks in different collectives notice.
struct PieceHeader {
  uint64_t piece = 0;  // the communicator's count of pieces before this one
  Kind kind = Kind::kBarrier;
  uint32_t dtype = 0;
  int64_t total = 0;   // the bucket's elements; AllGather: this rank's bytes
  int64_t offset = 0;  // the piece's first element (byte); -1: AllGather's lengths
  int32_t root = -1;
  uint32_t mean = 0;
};
static_assert(sizeof(PieceHeader) <= kLine, "a piece header fits in one cache line");

const char* KindName(Kind kind) {
  switch (kind) {
    case Kind::kAllReduce:
      return "allreduce";
    case Kind::kBroadcast:
      return "broadcast";
    case Kind::kAllGather:
      return "allgather";
    case Kind::kBarrier:
      return "barrier";
    case Kind::kReduce:
      return "reduce";
  }
  return "an unknown collective";
}

bool SameCollective(const PieceHeader& a, const PieceHeader& b) {
  if (a.piece != b.piece || a.kind != b.kind || a.offset != b.offset) return false;
  switch (a.kind) {
    case Kind::kAllReduce:
      return a.dtype == b.dtype && a.total == b.total && a.mean == b.mean;
    case Kind::kReduce:
      return a.dtype == b.dtype && a.total == b.total && a.mean == b.mean && a.root == b.root;
    case Kind::kBroadcast:
      return a.dtype == b.dtype && a.total == b.total && a.root == b.root;
    case Kind::kAllGather:
    case Kind::kBarrier:
      return true;
  }
  return false;
}

std::string Describe(const PieceHeader& h) {
  std::string text = KindName(h.kind);
  const auto dtype = static_cast<DataType>(h.dtype);
  if (h.kind == Kind::kAllReduce || h.kind == Kind::kReduce) {
    absl::StrAppend(&text, " (", h.mean ? "mean" : "sum", ")",
                    h.kind == Kind::kReduce ? absl::StrCat(" to rank ", h.root) : "", " of ",
                    h.total, " ", DataTypeName(dtype), " elements");
  } else if (h.kind == Kind::kBroadcast) {
    absl::StrAppend(&text, " from rank ", h.root, " of ", h.total, " ", DataTypeName(dtype),
                    " elements");
  }
  return absl::StrCat(text, " (piece ", h.piece, ")");
}

size_t RoundDown(size_t value, size_t multiple) { return value / multiple * multiple; }

}  // namespace

// The segment and the collectives over it; used on the worker's thread only (after Connect).
struct ShmCommunicator::Impl {
  explicit Impl(const ShmCommunicatorOptions& o)
      : options(o), buffer_bytes(RoundDown(o.staging_bytes / kBuffers, kLine) - kLine) {}

  // Meets the other ranks and maps the segment; errors start with "rank N: ".
  absl::Status Connect();
  absl::Status ConnectSteps();
  // AllReduce (root -1) or Reduce onto `root`.
  absl::Status Reduce(std::vector<Tensor>& tensors, ReduceOp op, int root);
  absl::Status Broadcast(std::vector<Tensor>& tensors, int root);
  absl::Status AllGather(const std::string& local, std::vector<std::string>& gathered);
  absl::Status Barrier();

  // Every piece has one synchronisation point: each rank passes it once it has filled its
  // buffer of the piece (and, in an allreduce, summed its slice of the piece before).
  //
  // Starts a piece: waits until every rank has filled the previous piece, after which none reads
  // this rank's buffer of three pieces ago any more; then claims the buffer with `header`.
  // Returns the buffer's index.
  absl::StatusOr<int> Begin(PieceHeader header);
  // Passes the piece's point; returns this rank's count of points passed.
  uint32_t Filled() { return last_filled = sync->Arrive(); }
  // Checks that `rank` (every other rank when -1) is in the same piece of the same collective.
  absl::Status CheckPeers(int b, const PieceHeader& mine, int only = -1) const;

  char* Buffer(int rank, int b) const {
    return segment->data() + options.size * sizeof(ShmRankSlot) +
           static_cast<size_t>(kBuffers * rank + b) * (kLine + buffer_bytes);
  }
  PieceHeader* Header(int rank, int b) const {
    return reinterpret_cast<PieceHeader*>(Buffer(rank, b));
  }
  char* Data(int rank, int b) const { return Buffer(rank, b) + kLine; }
  size_t SegmentBytes() const {
    return options.size * (sizeof(ShmRankSlot) + kBuffers * (kLine + buffer_bytes));
  }

  const ShmCommunicatorOptions& options;
  const size_t buffer_bytes;            // data bytes of each of a rank's buffers
  std::unique_ptr<ShmSegment> segment;  // null in a group of one
  std::unique_ptr<ShmSync> sync;
  uint32_t last_filled = 0;  // this rank's count of points at its previous piece
  uint64_t pieces = 0;       // pieces so far: picks the buffer
  absl::Status failed;       // the first failure of a collective
};

absl::Status ShmCommunicator::Impl::Connect() {
  absl::Status status = ConnectSteps();
  if (status.ok()) return status;
  return absl::Status(status.code(), absl::StrCat("rank ", options.rank, ": ", status.message()));
}

absl::Status ShmCommunicator::Impl::ConnectSteps() {
  const ShmCommunicatorOptions& o = options;
  FLEET_RETURN_IF_ERROR(Rendezvous(*o.store, o.prefix, o.rank, o.size, o.rendezvous_timeout));
  if (o.size == 1) return absl::OkStatus();

  const std::string prefix = absl::StrCat(o.prefix, "/shm");
  // Each rank's PID goes into the segment before the rank maps it, so that one that dies (or
  // fails and exits) before it joins is noticed rather than waited for.
  FLEET_RETURN_IF_ERROR(
      o.store->Set(absl::StrCat(prefix, "/pid/", o.rank), absl::StrCat(getpid())));
  FLEET_ASSIGN_OR_RETURN(
      std::vector<std::string> hosts,
      ExchangeHostIdentities(*o.store, prefix, o.rank, o.size,
                             o.host_identity.empty() ? HostIdentity() : o.host_identity,
                             o.rendezvous_timeout));
  const int other = FirstRankOnAnotherHost(hosts);
  if (other >= 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "shared memory: rank ", other, " runs on another host (", hosts[other], ") than rank 0 (",
        hosts[0],
        "); every rank must share this host (hint: FLEET_COLLECTIVE_TRANSPORT=auto or gloo "
        "connects ranks of several hosts over TCP)"));
  }

  const std::string key = absl::StrCat(prefix, "/segment");
  if (o.rank == 0) {
    FLEET_ASSIGN_OR_RETURN(ShmSegment created, ShmSegment::Create(SegmentBytes()));
    // The slots' atomics start life here, before any other rank can see the segment. Every
    // rank set its PID before its host identity, which is there.
    for (int r = 0; r < o.size; ++r) {
      auto* slot = new (created.data() + r * sizeof(ShmRankSlot)) ShmRankSlot();
      FLEET_ASSIGN_OR_RETURN(std::string pid, o.store->Get(absl::StrCat(prefix, "/pid/", r)));
      slot->pid.store(std::atoi(pid.c_str()), std::memory_order_relaxed);
    }
    segment = std::make_unique<ShmSegment>(std::move(created));
    FLEET_RETURN_IF_ERROR(o.store->Set(key, segment->Locator()));
  } else {
    FLEET_RETURN_IF_ERROR(o.store->Wait({key}, o.rendezvous_timeout));
    FLEET_ASSIGN_OR_RETURN(std::string locator, o.store->Get(key));
    FLEET_ASSIGN_OR_RETURN(ShmSegment opened, ShmSegment::Open(locator));
    opened.CloseFile();
    segment = std::make_unique<ShmSegment>(std::move(opened));
  }
  // The slots come first, at the same place whatever the staging size.
  sync = std::make_unique<ShmSync>(reinterpret_cast<ShmRankSlot*>(segment->data()), o.rank, o.size);
  if (segment->size() != SegmentBytes()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "shared memory: rank 0's segment has ", segment->size(), " bytes; this rank expects ",
        SegmentBytes(), " (hint: staging_bytes must be the same on every rank)"));
  }
  sync->Join();
  last_filled = sync->Arrive();
  FLEET_RETURN_IF_ERROR(sync->WaitAll(last_filled, o.rendezvous_timeout, "connect"));
  // Every rank has mapped the segment: no name or descriptor needs to outlive this point.
  segment->CloseFile();
  return absl::OkStatus();
}

absl::StatusOr<int> ShmCommunicator::Impl::Begin(PieceHeader header) {
  FLEET_RETURN_IF_ERROR(sync->WaitAll(last_filled, options.timeout, KindName(header.kind)));
  const int b = static_cast<int>(pieces % kBuffers);
  header.piece = pieces++;
  *Header(options.rank, b) = header;
  return b;
}

absl::Status ShmCommunicator::Impl::CheckPeers(int b, const PieceHeader& mine, int only) const {
  for (int r = 0; r < options.size; ++r) {
    if (r == options.rank || (only >= 0 && r != only)) continue;
    const PieceHeader& theirs = *Header(r, b);
    if (!SameCollective(theirs, mine)) {
      return absl::FailedPreconditionError(absl::StrCat(
          KindName(mine.kind), ": rank ", r, " is in ", Describe(theirs), " while this rank is in ",
          Describe(mine),
          " (shared memory; hint: every rank must issue the same collectives, with the same "
          "sizes, in the same order)"));
    }
  }
  return absl::OkStatus();
}

absl::Status ShmCommunicator::Impl::Reduce(std::vector<Tensor>& tensors, ReduceOp op, int root) {
  // A group of one holds the sum already, and the mean divides it by 1.
  if (segment == nullptr || tensors.empty()) return absl::OkStatus();
  const DataType dtype = tensors[0].dtype();
  const size_t element = DataTypeSize(dtype);
  const int64_t total = BucketElements(tensors);
  if (total == 0) return absl::OkStatus();
  const int n = options.size;
  const int me = options.rank;
  const char* name = root < 0 ? "allreduce" : "reduce";
  // Added as Gloo's allreduce or reduce adds, so the results are bitwise Gloo's.
  const SumOrder order = root < 0 ? GlooSumOrder(n, total, element, options.algorithm)
                                  : GlooReduceSumOrder(n, total, element);
  // A reduce leaves the other ranks' tensors as they were: only the root copies the sums out.
  const bool unpack = root < 0 || root == me;
  const int64_t capacity = static_cast<int64_t>(buffer_bytes / element);
  const int64_t line = static_cast<int64_t>(kLine / element);
  const int64_t count = (total + capacity - 1) / capacity;  // pieces
  const bool stream = total * static_cast<int64_t>(element) >= kStreamBytes;
  // Piece k's elements [first, first + size), cut in slices of whole cache lines; rank r sums
  // slice r.
  struct Piece {
    int64_t first = 0, size = 0, slice = 0;
    int buffer = 0;
    std::pair<int64_t, int64_t> Slice(int r) const {
      const int64_t begin = std::min(size, r * slice);
      return {begin, std::min(size, begin + slice)};
    }
  };
  auto piece_at = [&](int64_t k) {
    Piece p;
    p.first = std::min(total, k * capacity);
    p.size = std::min(capacity, total - p.first);
    p.slice = ((p.size + n - 1) / n + line - 1) / line * line;
    return p;
  };
  // Starts piece k (k == count: the tail, which carries no data) and packs the slices the other
  // ranks sum; this rank's own slice is read from its tensors when it sums it.
  auto fill = [&](Piece& p) -> absl::Status {
    PieceHeader header;
    header.kind = root < 0 ? Kind::kAllReduce : Kind::kReduce;
    header.dtype = static_cast<uint32_t>(dtype);
    header.total = total;
    header.offset = p.first;
    header.root = root;
    header.mean = op == ReduceOp::kMean;
    FLEET_ASSIGN_OR_RETURN(p.buffer, Begin(header));
    const auto [begin, end] = p.Slice(me);
    PackBucket(tensors, p.first, begin, Data(me, p.buffer));
    PackBucket(tensors, p.first + end, p.size - end, Data(me, p.buffer) + end * element);
    Filled();
    return absl::OkStatus();
  };

  // Step k, once every rank has filled piece k (and so summed its slice of piece k - 1): copy
  // piece k - 1's sums into the tensors, sum this rank's slice of piece k, fill piece k + 1.
  std::vector<const void*> srcs(n);
  Piece previous, current = piece_at(0);
  FLEET_RETURN_IF_ERROR(fill(current));
  for (int64_t k = 0; k <= count; ++k) {
    FLEET_RETURN_IF_ERROR(sync->WaitAll(last_filled, options.timeout, name));
    FLEET_RETURN_IF_ERROR(CheckPeers(current.buffer, *Header(me, current.buffer)));
    if (k > 0 && unpack) {
      for (int r = 0; r < n; ++r) {
        const auto [from, to] = previous.Slice(r);
        if (from < to) {
          UnpackBucket(Data(r, previous.buffer) + from * element, previous.first + from, to - from,
                       op == ReduceOp::kMean ? n : 1, tensors, stream);
        }
      }
    }
    if (k == count) break;
    const auto [begin, end] = current.Slice(me);
    for (const BucketSpan& span : BucketSpans(tensors, current.first + begin, end - begin)) {
      const size_t at = static_cast<size_t>(begin + span.at) * element;
      for (int r = 0; r < n; ++r) srcs[r] = r == me ? span.data : Data(r, current.buffer) + at;
      SumInOrder(order, dtype, current.first + begin + span.at, span.count, srcs.data(),
                 Data(me, current.buffer) + at);
    }
    previous = current;
    current = piece_at(k + 1);
    FLEET_RETURN_IF_ERROR(fill(current));
  }
  return absl::OkStatus();
}

absl::Status ShmCommunicator::Impl::Broadcast(std::vector<Tensor>& tensors, int root) {
  if (segment == nullptr || tensors.empty()) return absl::OkStatus();
  const DataType dtype = tensors[0].dtype();
  const size_t element = DataTypeSize(dtype);
  const int64_t total = BucketElements(tensors);
  const int me = options.rank;
  const int64_t capacity = static_cast<int64_t>(buffer_bytes / element);
  for (int64_t offset = 0; offset < total; offset += capacity) {
    const int64_t count = std::min(capacity, total - offset);
    PieceHeader header;
    header.kind = Kind::kBroadcast;
    header.dtype = static_cast<uint32_t>(dtype);
    header.total = total;
    header.offset = offset;
    header.root = root;
    FLEET_ASSIGN_OR_RETURN(const int b, Begin(header));
    if (me == root) PackBucket(tensors, offset, count, Data(me, b));
    const uint32_t filled = Filled();
    if (me != root) {
      // Only the root's buffer is read, so only the root is waited for.
      FLEET_RETURN_IF_ERROR(sync->WaitFor(root, filled, options.timeout, "broadcast"));
      FLEET_RETURN_IF_ERROR(CheckPeers(b, *Header(me, b), root));
      UnpackBucket(Data(root, b), offset, count, 1, tensors);
    }
  }
  return absl::OkStatus();
}

absl::Status ShmCommunicator::Impl::AllGather(const std::string& local,
                                              std::vector<std::string>& gathered) {
  const int n = options.size;
  const int me = options.rank;
  if (segment == nullptr) {
    gathered = {local};
    return absl::OkStatus();
  }
  // The lengths first, in the piece headers.
  PieceHeader header;
  header.kind = Kind::kAllGather;
  header.total = static_cast<int64_t>(local.size());
  header.offset = -1;
  FLEET_ASSIGN_OR_RETURN(int b, Begin(header));
  FLEET_RETURN_IF_ERROR(sync->WaitAll(Filled(), options.timeout, "allgather"));
  FLEET_RETURN_IF_ERROR(CheckPeers(b, *Header(me, b)));
  std::vector<size_t> lengths(n);
  size_t longest = 0;
  for (int r = 0; r < n; ++r) {
    const int64_t length = Header(r, b)->total;
    if (length < 0) {
      return absl::InternalError(absl::StrCat("allgather: rank ", r, " sent a length of ", length));
    }
    lengths[r] = static_cast<size_t>(length);
    longest = std::max(longest, lengths[r]);
  }

  gathered.assign(n, std::string());
  for (int r = 0; r < n; ++r) gathered[r].resize(lengths[r]);
  for (size_t offset = 0; offset < longest; offset += buffer_bytes) {
    header.offset = static_cast<int64_t>(offset);
    FLEET_ASSIGN_OR_RETURN(b, Begin(header));
    if (offset < local.size()) {
      std::memcpy(Data(me, b), local.data() + offset,
                  std::min(buffer_bytes, local.size() - offset));
    }
    FLEET_RETURN_IF_ERROR(sync->WaitAll(Filled(), options.timeout, "allgather"));
    FLEET_RETURN_IF_ERROR(CheckPeers(b, *Header(me, b)));
    for (int r = 0; r < n; ++r) {
      if (offset < lengths[r]) {
        std::memcpy(gathered[r].data() + offset, Data(r, b),
                    std::min(buffer_bytes, lengths[r] - offset));
      }
    }
  }
  return absl::OkStatus();
}

absl::Status ShmCommunicator::Impl::Barrier() {
  if (segment == nullptr) return absl::OkStatus();
  PieceHeader header;
  header.kind = Kind::kBarrier;
  FLEET_ASSIGN_OR_RETURN(const int b, Begin(header));
  FLEET_RETURN_IF_ERROR(sync->WaitAll(Filled(), options.timeout, "barrier"));
  return CheckPeers(b, *Header(options.rank, b));
}

absl::StatusOr<std::shared_ptr<ShmCommunicator>> ShmCommunicator::Create(
    ShmCommunicatorOptions options) {
  if (options.store == nullptr) {
    return absl::InvalidArgumentError("ShmCommunicator: no store to meet the other ranks in");
  }
  if (options.size < 1 || options.rank < 0 || options.rank >= options.size) {
    return absl::InvalidArgumentError(absl::StrCat("ShmCommunicator: rank ", options.rank, " of ",
                                                   options.size, "; expected 0 <= rank < size"));
  }
  if (options.timeout.count() <= 0 || options.rendezvous_timeout.count() <= 0) {
    return absl::InvalidArgumentError("ShmCommunicator: timeouts must be positive");
  }
  if (options.staging_bytes < kMinStagingBytes) {
    return absl::InvalidArgumentError(absl::StrCat("ShmCommunicator: staging_bytes ",
                                                   options.staging_bytes, "; expected at least ",
                                                   kMinStagingBytes));
  }
  std::shared_ptr<ShmCommunicator> comm(new ShmCommunicator(std::move(options)));
  absl::Status connected = comm->impl_->Connect();
  if (!connected.ok()) {
    // The ranks that did map the segment learn at once that this one will not come.
    Impl& impl = *comm->impl_;
    impl.failed = connected;
    if (impl.sync != nullptr) impl.sync->Leave(kShmFailed);
    return connected;
  }
  return comm;
}

ShmCommunicator::ShmCommunicator(ShmCommunicatorOptions options)
    : options_(std::move(options)),
      impl_(std::make_unique<Impl>(options_)),
      worker_(std::make_unique<OrderedWorker>()) {}

ShmCommunicator::~ShmCommunicator() {
  worker_.reset();  // runs what is queued, then stops: nothing touches impl_ after this
  if (impl_->sync != nullptr && impl_->failed.ok()) impl_->sync->Leave(kShmClosed);
}

std::shared_ptr<Event> ShmCommunicator::Queue(CollectiveKind kind, int64_t bytes,
                                              std::function<absl::Status(Impl&)> work) {
  return worker_->Run([this, kind, bytes, work = std::move(work)]() -> absl::Status {
    const std::string op(CollectiveKindName(kind));
    Impl& impl = *impl_;
    if (!impl.failed.ok()) {
      return absl::Status(
          impl.failed.code(),
          absl::StrCat(op, ": not run; an earlier collective failed: ", impl.failed.message()));
    }
    const auto start = std::chrono::steady_clock::now();
    absl::Status status = work(impl);
    counters_.Add(kind, bytes, std::chrono::steady_clock::now() - start);
    if (!status.ok()) {
      impl.failed = status;
      if (impl.sync != nullptr) impl.sync->Leave(kShmFailed);
    }
    return status;
  });
}

absl::StatusOr<std::shared_ptr<Event>> ShmCommunicator::AllReduce(std::vector<Tensor> tensors,
                                                                  ReduceOp op) {
  FLEET_RETURN_IF_ERROR(CheckBucket("allreduce", tensors));
  const int64_t bytes = BucketBytes(tensors);
  return Queue(CollectiveKind::kAllReduce, bytes,
               [tensors = std::move(tensors), op](Impl& impl) mutable {
                 return impl.Reduce(tensors, op, /*root=*/-1);
               });
}

absl::StatusOr<std::shared_ptr<Event>> ShmCommunicator::Reduce(std::vector<Tensor> tensors,
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
absl::StatusOr<std::shared_ptr<Event>> ShmCommunicator::ReduceScatter(Tensor tensor, ReduceOp op) {
  std::vector<Tensor> tensors = {std::move(tensor)};
  FLEET_RETURN_IF_ERROR(CheckBucket("reduce_scatter", tensors));
  FLEET_RETURN_IF_ERROR(CheckEqualParts(tensors[0], size()));
  const int64_t bytes = BucketBytes(tensors);
  return Queue(CollectiveKind::kReduceScatter, bytes,
               [tensors = std::move(tensors), op](Impl& impl) mutable {
                 return impl.Reduce(tensors, op, /*root=*/-1);
               });
}

absl::StatusOr<std::shared_ptr<Event>> ShmCommunicator::Broadcast(std::vector<Tensor> tensors,
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

absl::StatusOr<std::shared_ptr<Event>> ShmCommunicator::AllGather(
    std::string local, std::shared_ptr<std::vector<std::string>> gathered) {
  if (gathered == nullptr) return absl::InvalidArgumentError("allgather: no output vector");
  const auto bytes = static_cast<int64_t>(local.size());
  return Queue(CollectiveKind::kAllGather, bytes, [local = std::move(local), gathered](Impl& impl) {
    return impl.AllGather(local, *gathered);
  });
}

absl::StatusOr<std::shared_ptr<Event>> ShmCommunicator::Barrier() {
  return Queue(CollectiveKind::kBarrier, 0, [](Impl& impl) { return impl.Barrier(); });
}

}  // namespace fleet
