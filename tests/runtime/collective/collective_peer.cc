// A rank in a process of its own, for the collective tests that need real processes
// (collective_failure_test.cc and shm_failure_test.cc start it, and may kill it):
//
//   collective_peer RANK SIZE PORT MODE
//
// joins the group whose TCP store is served on 127.0.0.1:PORT. MODE:
//   allreduce-loop      over Gloo: allreduces 1M floats of value RANK + 1 again and again until
//                       one fails (exit 1), checking each result against the closed form (exit 2
//   shm-allreduce-loop  when wrong); the same over shared memory.
//   reduce-loop         the same with reduces onto rank 0 (the test's rank): each rank checks
//   shm-reduce-loop     that its own tensor kept its values.
//   shm-check           every rank a process: the shared-memory communicator against closed
//                       forms (sum, mean, reduce, broadcast, allgather, barrier), Gloo's reduce
//                       against the closed form, and shared memory's allreduce and reduce,
//                       bitwise, against Gloo's on order-sensitive inputs; exit 0 when all
//                       holds, 2 (with a message) when something differs.
// It dies with the test process (PR_SET_PDEATHSIG).
#include <sys/prctl.h>

#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "runtime/collective/gloo_communicator.h"
#include "runtime/collective/shm_communicator.h"

namespace fleet {
namespace {

absl::Status Await(const absl::StatusOr<std::shared_ptr<Event>>& event) {
  if (!event.ok()) return event.status();
  return (*event)->Wait(Clock::now() + std::chrono::seconds(120));
}

// Prints `what` for `rank` and returns `code`: 1 for a failed collective, 2 for a wrong result.
int Report(int rank, const std::string& what, int code) {
  std::fprintf(stderr, "rank %d: %s\n", rank, what.c_str());
  return code;
}
int Fail(int rank, const std::string& what) { return Report(rank, what, 2); }

// Rank `rank`'s element i: magnitudes over 2^-8 .. 2^8, so that sums depend on their order.
float Noisy(int rank, int64_t i) {
  const uint32_t h =
      static_cast<uint32_t>(i * 2654435761u) ^ static_cast<uint32_t>((rank + 1) * 40503);
  return std::ldexp(static_cast<float>(h % 10007) / 10007.f - 0.5f, static_cast<int>(h % 17) - 8);
}

// Allreduces, or with `reduce` reduces onto rank 0, until a call fails.
int Loop(int rank, int size, Communicator& comm, bool reduce) {
  const int64_t n = 1 << 20;
  // The sum of rank + 1 over the ranks; a reduce leaves this rank's own value.
  const float expected = reduce && rank != 0 ? static_cast<float>(rank + 1)
                                             : static_cast<float>(size * (size + 1) / 2);
  for (;;) {
    Tensor t(DataType::kF32, {n});
    for (int64_t i = 0; i < n; ++i) t.data<float>()[i] = static_cast<float>(rank + 1);
    absl::Status s =
        Await(reduce ? comm.Reduce({t}, ReduceOp::kSum, 0) : comm.AllReduce({t}, ReduceOp::kSum));
    if (!s.ok()) return Report(rank, std::string(s.message()), 1);
    for (int64_t i = 0; i < n; ++i) {
      if (t.data<float>()[i] != expected) return 2;
    }
  }
}

int Check(int rank, int size, Communicator& shm, Communicator& gloo) {
  // Closed forms: a bucket of two tensors (many staging pieces), sum in f32 and mean in f64.
  {
    std::vector<Tensor> bucket = {Tensor(DataType::kF32, {1000}),
                                  Tensor(DataType::kF32, {3000001})};
    for (Tensor& t : bucket) {
      for (int64_t i = 0; i < t.numel(); ++i)
        t.data<float>()[i] = static_cast<float>((i % 97) * (rank + 1));
    }
    absl::Status s = Await(shm.AllReduce(bucket, ReduceOp::kSum));
    if (!s.ok()) return Report(rank, std::string(s.message()), 1);
    const int ranks_sum = size * (size + 1) / 2;
    for (const Tensor& t : bucket) {
      for (int64_t i = 0; i < t.numel(); ++i) {
        if (t.data<float>()[i] != static_cast<float>((i % 97) * ranks_sum)) {
          return Fail(rank, "f32 sum differs from the closed form at element " + std::to_string(i));
        }
      }
    }
    Tensor d(DataType::kF64, {100003});
    for (int64_t i = 0; i < d.numel(); ++i) d.data<double>()[i] = (i % 13) * (rank + 1.0);
    s = Await(shm.AllReduce({d}, ReduceOp::kMean));
    if (!s.ok()) return Report(rank, std::string(s.message()), 1);
    for (int64_t i = 0; i < d.numel(); ++i) {
      if (d.data<double>()[i] != (i % 13) * ranks_sum / static_cast<double>(size)) {
        return Fail(rank, "f64 mean differs from the closed form at element " + std::to_string(i));
      }
    }
  }
  // Bitwise equal to Gloo: 700,007 floats (Gloo's ring) and 70,001 (its bcube).
  for (const int64_t n : {int64_t{700007}, int64_t{70001}}) {
    Tensor a(DataType::kF32, {n}), b(DataType::kF32, {n});
    for (int64_t i = 0; i < n; ++i) a.data<float>()[i] = b.data<float>()[i] = Noisy(rank, i);
    absl::Status s = Await(shm.AllReduce({a}, ReduceOp::kSum));
    if (s.ok()) s = Await(gloo.AllReduce({b}, ReduceOp::kSum));
    if (!s.ok()) return Report(rank, std::string(s.message()), 1);
    if (std::memcmp(a.raw_data(), b.raw_data(), a.nbytes()) != 0) {
      return Fail(rank, "shared memory and Gloo sums of " + std::to_string(n) + " floats differ");
    }
  }
  // Reduces onto the last rank, over both transports: the closed form there, the other ranks'
  // tensors untouched; and shared memory bitwise equal to Gloo, whose reduce adds in an order
  // of its own (1.8M floats over 3 ranks: chunks other than its allreduce's).
  for (Communicator* comm : {&shm, &gloo}) {
    const int root = size - 1;
    Tensor t(DataType::kF32, {300007});
    for (int64_t i = 0; i < t.numel(); ++i)
      t.data<float>()[i] = static_cast<float>((i % 89) * (rank + 1));
    absl::Status s = Await(comm->Reduce({t}, ReduceOp::kSum, root));
    if (!s.ok()) return Report(rank, std::string(s.message()), 1);
    const int factor = rank == root ? size * (size + 1) / 2 : rank + 1;
    for (int64_t i = 0; i < t.numel(); ++i) {
      if (t.data<float>()[i] != static_cast<float>((i % 89) * factor)) {
        return Fail(rank, std::string(comm->transport()) +
                              ": reduce differs from the closed form at element " +
                              std::to_string(i));
      }
    }
  }
  {
    const int64_t n = 1835009;
    Tensor a(DataType::kF32, {n}), b(DataType::kF32, {n});
    for (int64_t i = 0; i < n; ++i) a.data<float>()[i] = b.data<float>()[i] = Noisy(rank, i);
    absl::Status s = Await(shm.Reduce({a}, ReduceOp::kSum, 0));
    if (s.ok()) s = Await(gloo.Reduce({b}, ReduceOp::kSum, 0));
    if (!s.ok()) return Report(rank, std::string(s.message()), 1);
    if (std::memcmp(a.raw_data(), b.raw_data(), a.nbytes()) != 0) {
      return Fail(rank,
                  "shared memory and Gloo reduces of " + std::to_string(n) + " floats differ");
    }
  }
  // Broadcast from the last rank, an allgather of different lengths, a barrier.
  {
    Tensor t(DataType::kF32, {500000});
    for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = Noisy(rank, i);
    absl::Status s = Await(shm.Broadcast({t}, size - 1));
    if (!s.ok()) return Report(rank, std::string(s.message()), 1);
    for (int64_t i = 0; i < t.numel(); ++i) {
      if (t.data<float>()[i] != Noisy(size - 1, i)) return Fail(rank, "broadcast differs");
    }
    auto gathered = std::make_shared<std::vector<std::string>>();
    s = Await(shm.AllGather(std::string(rank * 3000000, static_cast<char>('a' + rank)), gathered));
    if (!s.ok()) return Report(rank, std::string(s.message()), 1);
    for (int r = 0; r < size; ++r) {
      if ((*gathered)[r] != std::string(r * 3000000, static_cast<char>('a' + r))) {
        return Fail(rank, "allgather: rank " + std::to_string(r) + "'s bytes differ");
      }
    }
    s = Await(shm.Barrier());
    if (!s.ok()) return Report(rank, std::string(s.message()), 1);
  }
  return 0;
}

int Main(int argc, char** argv) {
  const std::string mode = argc == 5 ? argv[4] : "";
  const bool reduce = mode == "reduce-loop" || mode == "shm-reduce-loop";
  const bool over_shm = mode == "shm-allreduce-loop" || mode == "shm-reduce-loop";
  if (mode != "allreduce-loop" && mode != "shm-allreduce-loop" && !reduce && mode != "shm-check") {
    std::fprintf(stderr,
                 "usage: collective_peer RANK SIZE PORT allreduce-loop|shm-allreduce-loop|"
                 "reduce-loop|shm-reduce-loop|shm-check\n");
    return 64;
  }
  const int rank = std::atoi(argv[1]);
  const int size = std::atoi(argv[2]);
  const int port = std::atoi(argv[3]);
  auto store = TcpStore::Connect("127.0.0.1", port, std::chrono::seconds(30));
  if (!store.ok()) return Report(rank, std::string(store.status().message()), 1);
  std::shared_ptr<Store> shared = *std::move(store);

  // The loops meet the test's own rank 0 under the default prefix; shm-check runs two groups.
  const bool both = mode == "shm-check";
  std::shared_ptr<Communicator> shm, gloo;
  if (both || over_shm) {
    ShmCommunicatorOptions options;
    options.rank = rank;
    options.size = size;
    options.store = shared;
    options.prefix = both ? "fleet/shm" : "fleet/comm";
    options.rendezvous_timeout = std::chrono::seconds(30);
    options.timeout = std::chrono::seconds(60);
    auto comm = ShmCommunicator::Create(options);
    if (!comm.ok()) return Report(rank, std::string(comm.status().message()), 1);
    shm = *std::move(comm);
  }
  if (both || !over_shm) {
    GlooCommunicatorOptions options;
    options.rank = rank;
    options.size = size;
    options.store = shared;
    options.prefix = both ? "fleet/gloo" : "fleet/comm";
    options.rendezvous_timeout = std::chrono::seconds(30);
    options.timeout = std::chrono::seconds(60);
    auto comm = GlooCommunicator::Create(options);
    if (!comm.ok()) return Report(rank, std::string(comm.status().message()), 1);
    gloo = *std::move(comm);
  }
  if (both) return Check(rank, size, *shm, *gloo);
  return Loop(rank, size, over_shm ? *shm : *gloo, reduce);
}

}  // namespace
}  // namespace fleet

int main(int argc, char** argv) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  return fleet::Main(argc, argv);
}
