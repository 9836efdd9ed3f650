// fleet-bench-allreduce: a Communicator's in-place allreduce (sum), or with --collective reduce
// its reduce onto rank 0 (the reduce mode's fleet.reduce), nccl-tests style, over Gloo's
// TCP transport or shared memory, with its ranks as threads of this process or as processes
// (this program started again as each peer), meeting at a TcpStore on a free 127.0.0.1 port;
// and beside it the peer every rank's traffic over TCP is bounded by: the same bytes exchanged
// both ways over one raw loopback TCP connection between two threads.
//
//   fleet-bench-allreduce --ranks 2 --transport shm --processes --min-bytes 1K --max-bytes 256M
//
// One row per size (doubling): bytes, elements, type, time per call (the median of the timed
// calls, each started right after a barrier and timed on rank 0), algbw = bytes / time, busbw =
// algbw * 2(n-1)/n (what each rank's link carried; for a reduce busbw = algbw, as nccl-tests
// counts it), the elements that came out wrong on any rank (a reduce: the sum on rank 0, every
// other rank's own values), and the raw TCP exchange's bandwidth for the same bytes. Exits 1 when
// any element was wrong.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "ir/status_macros.h"
#include "runtime/collective/gloo_communicator.h"
#include "runtime/collective/shm_communicator.h"
#include "tools/version.h"

extern char** environ;

namespace fleet {
namespace {

using SteadyClock = std::chrono::steady_clock;

struct BenchOptions {
  int ranks = 2;
  std::string min_bytes = "1K";
  std::string max_bytes = "256M";
  std::string algorithm = "auto";
  std::string transport = "gloo";
  std::string collective = "allreduce";  // or "reduce" (onto rank 0)
  bool processes = false;
  int max_iters = 50;
  std::string staging = "4M";  // shm: staging bytes per rank
  // Set in the peers this program starts: their rank and the leader's store port.
  int peer_rank = -1;
  int store_port = 0;
};

std::string CpuName() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  }
  return "unknown CPU";
}

// Timed calls for one size: enough for about 0.3 s, at least 3 and at most `max_iters`.
int ItersFor(double seconds_per_call, int max_iters) {
  return std::clamp(static_cast<int>(0.3 / std::max(seconds_per_call, 1e-7)), 3, max_iters);
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// "1K", "256M", "4096" -> bytes; -1 when it is not a size.
int64_t ParseBytes(const std::string& text) {
  int64_t scale = 1;
  std::string digits = text;
  if (!text.empty() && (text.back() == 'K' || text.back() == 'M')) {
    scale = text.back() == 'K' ? 1024 : 1024 * 1024;
    digits.pop_back();
  }
  try {
    return std::stoll(digits) * scale;
  } catch (const std::exception&) {
    return -1;
  }
}

AllReduceAlgorithm AlgorithmOf(const std::string& name) {
  return name == "ring"    ? AllReduceAlgorithm::kRing
         : name == "bcube" ? AllReduceAlgorithm::kBcube
                           : AllReduceAlgorithm::kAuto;
}

// Seconds for two threads to exchange `bytes` both ways over one loopback TCP connection (the
// median of `iters`), or a negative number when the sockets could not be set up.
double TcpExchangeSeconds(size_t bytes, int iters) {
  int listener = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  if (bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      listen(listener, 1) != 0 ||
      getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    close(listener);
    return -1;
  }
  int a = socket(AF_INET, SOCK_STREAM, 0);
  if (connect(a, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(a);
    close(listener);
    return -1;
  }
  int b = accept(listener, nullptr, nullptr);
  close(listener);
  int one = 1;
  setsockopt(a, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  setsockopt(b, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  std::vector<char> out_a(bytes, 1), in_a(bytes), out_b(bytes, 2), in_b(bytes);
  // Each side sends on one thread and receives on another, as a rank's transport does.
  auto exchange = [bytes](int fd, const char* out, char* in) {
    std::thread sender([&] {
      for (size_t sent = 0; sent < bytes;) {
        ssize_t n = send(fd, out + sent, bytes - sent, MSG_NOSIGNAL);
        if (n <= 0) return;
        sent += static_cast<size_t>(n);
      }
    });
    for (size_t got = 0; got < bytes;) {
      ssize_t n = recv(fd, in + got, bytes - got, 0);
      if (n <= 0) break;
      got += static_cast<size_t>(n);
    }
    sender.join();
  };
  std::vector<double> times;
  for (int i = 0; i < iters + 1; ++i) {
    auto t0 = SteadyClock::now();
    std::thread side_b(exchange, b, out_b.data(), in_b.data());
    exchange(a, out_a.data(), in_a.data());
    side_b.join();
    if (i > 0) times.push_back(std::chrono::duration<double>(SteadyClock::now() - t0).count());
  }
  close(a);
  close(b);
  return Median(times);
}

absl::StatusOr<std::shared_ptr<Communicator>> Join(const BenchOptions& o, int rank,
                                                   std::shared_ptr<Store> store) {
  if (o.transport == "shm") {
    ShmCommunicatorOptions options;
    options.rank = rank;
    options.size = o.ranks;
    options.store = std::move(store);
    options.algorithm = AlgorithmOf(o.algorithm);
    options.staging_bytes = static_cast<size_t>(ParseBytes(o.staging));
    FLEET_ASSIGN_OR_RETURN(std::shared_ptr<ShmCommunicator> comm, ShmCommunicator::Create(options));
    return std::shared_ptr<Communicator>(std::move(comm));
  }
  GlooCommunicatorOptions options;
  options.rank = rank;
  options.size = o.ranks;
  options.store = std::move(store);
  options.algorithm = AlgorithmOf(o.algorithm);
  FLEET_ASSIGN_OR_RETURN(std::shared_ptr<GlooCommunicator> comm, GlooCommunicator::Create(options));
  return std::shared_ptr<Communicator>(std::move(comm));
}

absl::Status Await(const absl::StatusOr<std::shared_ptr<Event>>& event) {
  if (!event.ok()) return event.status();
  return (*event)->Wait(Clock::now() + std::chrono::seconds(300));
}

void PrintHeader(const BenchOptions& o) {
  const std::string transport = o.transport == "shm" ? "shared memory (staging " + o.staging +
                                                           " per rank; Gloo's order of additions)"
                                                     : "Gloo TCP";
  std::printf("# fleet-bench-allreduce: %d ranks as %s, 127.0.0.1, %s\n", o.ranks,
              o.processes ? "processes" : "threads of one process", transport.c_str());
  std::printf("# machine: %s, %u hardware threads; algorithm: %s\n", CpuName().c_str(),
              std::thread::hardware_concurrency(),
              o.algorithm == "auto" ? "auto (bcube <= 1 MiB < ring)" : o.algorithm.c_str());
  std::printf(
      "# in-place %s of f32; time is the median call, each after a barrier, on rank 0; peer: "
      "the same bytes exchanged both ways over one raw loopback TCP connection\n",
      o.collective == "reduce" ? "reduce (sum) onto rank 0" : "allreduce (sum)");
  std::printf("%12s %12s %5s %12s %10s %10s %8s %14s\n", "size(B)", "count", "type", "time(us)",
              "algbw(GB/s)", "busbw(GB/s)", "#wrong", "tcp-peer(GB/s)");
  std::fflush(stdout);
}

// One rank's part of the benchmark, the same on every rank; rank 0 prints the table. DATA_LOSS
// when an element came out wrong on any rank.
absl::Status RankLoop(const BenchOptions& o, int rank, Communicator& comm) {
  const int64_t min_bytes = ParseBytes(o.min_bytes), max_bytes = ParseBytes(o.max_bytes);
  const bool leader = rank == 0;
  if (leader) PrintHeader(o);
  const bool reduce = o.collective == "reduce";
  const double bus_factor = reduce ? 1.0 : 2.0 * (o.ranks - 1) / o.ranks;
  int64_t wrong_anywhere = 0;
  for (int64_t bytes = min_bytes; bytes <= max_bytes; bytes *= 2) {
    const int64_t count = bytes / static_cast<int64_t>(sizeof(float));
    Tensor tensor(DataType::kF32, {count});
    std::fill_n(tensor.data<float>(), count, 0.f);
    auto call = [&]() -> absl::StatusOr<double> {
      FLEET_RETURN_IF_ERROR(Await(comm.Barrier()));
      const auto t0 = SteadyClock::now();
      FLEET_RETURN_IF_ERROR(Await(reduce ? comm.Reduce({tensor}, ReduceOp::kSum, 0)
                                         : comm.AllReduce({tensor}, ReduceOp::kSum)));
      return std::chrono::duration<double>(SteadyClock::now() - t0).count();
    };
    // The warm-up call also sizes the run; rank 0's measure decides for every rank.
    FLEET_ASSIGN_OR_RETURN(double first, call());
    Tensor first_seconds = Tensor::Scalar<double>(DataType::kF64, first);
    FLEET_RETURN_IF_ERROR(Await(comm.Broadcast({first_seconds}, 0)));
    const int iters = ItersFor(*first_seconds.data<double>(), o.max_iters);
    std::vector<double> times;
    for (int i = 0; i < iters; ++i) {
      FLEET_ASSIGN_OR_RETURN(double t, call());
      times.push_back(t);
    }

    // Correctness: rank r holds r + 1 everywhere; the sum is n(n+1)/2 (a reduce's other ranks
    // keep r + 1). Every rank counts its wrong elements, and the counts are gathered.
    std::fill_n(tensor.data<float>(), count, rank + 1.0f);
    FLEET_RETURN_IF_ERROR(call().status());
    const float expected =
        reduce && rank != 0 ? rank + 1.0f : static_cast<float>(o.ranks * (o.ranks + 1) / 2);
    int64_t wrong = 0;
    for (int64_t i = 0; i < count; ++i) wrong += tensor.data<float>()[i] != expected;
    auto counts = std::make_shared<std::vector<std::string>>();
    FLEET_RETURN_IF_ERROR(Await(comm.AllGather(std::to_string(wrong), counts)));
    int64_t all_wrong = 0;
    for (const std::string& c : *counts) all_wrong += std::stoll(c);
    wrong_anywhere += all_wrong;
    if (!leader) continue;
    const double t = Median(times);
    const double algbw = static_cast<double>(bytes) / t / 1e9;
    const double peer = TcpExchangeSeconds(static_cast<size_t>(bytes), std::min(iters, 20));
    std::printf("%12lld %12lld %5s %12.1f %10.3f %10.3f %8lld %14.3f\n",
                static_cast<long long>(bytes), static_cast<long long>(count), "f32", t * 1e6, algbw,
                algbw * bus_factor, static_cast<long long>(all_wrong),
                peer > 0 ? static_cast<double>(bytes) / peer / 1e9 : 0.0);
    std::fflush(stdout);
  }
  FLEET_RETURN_IF_ERROR(Await(comm.Barrier()));
  if (wrong_anywhere > 0) {
    return absl::DataLossError(
        absl::StrCat(wrong_anywhere, " elements came out wrong (the #wrong column)"));
  }
  return absl::OkStatus();
}

// A peer process this program started; killed and reaped at the latest when destroyed.
class Peer {
 public:
  Peer(const BenchOptions& o, int rank, int port) {
    // The leader's options, flag by flag, and the peer's own rank.
    const std::vector<std::pair<const char*, std::string>> flags = {
        {"--ranks", std::to_string(o.ranks)},
        {"--min-bytes", o.min_bytes},
        {"--max-bytes", o.max_bytes},
        {"--algorithm", o.algorithm},
        {"--transport", o.transport},
        {"--collective", o.collective},
        {"--staging", o.staging},
        {"--max-iters", std::to_string(o.max_iters)},
        {"--peer-rank", std::to_string(rank)},
        {"--store-port", std::to_string(port)}};
    std::vector<std::string> args = {"/proc/self/exe"};
    for (const auto& [flag, value] : flags) {
      args.push_back(flag);
      args.push_back(value);
    }
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    if (posix_spawn(&pid_, argv[0], nullptr, nullptr, argv.data(), environ) != 0) pid_ = -1;
  }
  ~Peer() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  bool started() const { return pid_ > 0; }
  // Waits for the peer to end (it ends after the last size, or when its collectives fail);
  // true when it exited with 0.
  bool Finish() {
    int status = 0;
    const bool reaped = waitpid(pid_, &status, 0) == pid_;
    pid_ = -1;
    return reaped && WIFEXITED(status) && WEXITSTATUS(status) == 0;
  }

 private:
  pid_t pid_ = -1;
};

int Fail(const absl::Status& s) {
  std::fprintf(stderr, "fleet-bench-allreduce: error: %s\n", std::string(s.message()).c_str());
  return 1;
}

// A peer: joins the leader's store and runs its part.
int RunPeer(const BenchOptions& o) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive the leader
  auto store = TcpStore::Connect("127.0.0.1", o.store_port, std::chrono::seconds(60));
  if (!store.ok()) return Fail(store.status());
  auto comm = Join(o, o.peer_rank, *std::move(store));
  if (!comm.ok()) return Fail(comm.status());
  absl::Status s = RankLoop(o, o.peer_rank, **comm);
  return s.ok() ? 0 : Fail(s);
}

int Run(const BenchOptions& o) {
  auto server = TcpStore::Serve("127.0.0.1", 0);
  if (!server.ok()) return Fail(server.status());
  const int port = (*server)->port();
  std::vector<std::shared_ptr<Store>> stores;
  stores.push_back(*std::move(server));
  if (o.processes) {
    std::vector<std::unique_ptr<Peer>> peers;
    for (int r = 1; r < o.ranks; ++r) {
      peers.push_back(std::make_unique<Peer>(o, r, port));
      if (!peers.back()->started()) return Fail(absl::InternalError("cannot start a peer"));
    }
    auto comm = Join(o, 0, stores[0]);
    if (!comm.ok()) return Fail(comm.status());
    absl::Status s = RankLoop(o, 0, **comm);
    if (!s.ok()) return Fail(s);
    bool all = true;
    for (auto& peer : peers) all = peer->Finish() && all;
    return all ? 0 : Fail(absl::InternalError("a peer failed (its error is above)"));
  }
  for (int r = 1; r < o.ranks; ++r) {
    auto client = TcpStore::Connect("127.0.0.1", port, std::chrono::seconds(10));
    if (!client.ok()) return Fail(client.status());
    stores.push_back(*std::move(client));
  }
  std::vector<absl::Status> results(o.ranks);
  std::vector<std::thread> ranks;
  for (int r = 0; r < o.ranks; ++r) {
    ranks.emplace_back([&, r] {
      auto comm = Join(o, r, stores[r]);
      results[r] = comm.ok() ? RankLoop(o, r, **comm) : comm.status();
    });
  }
  for (std::thread& t : ranks) t.join();
  for (const absl::Status& s : results) {
    if (!s.ok()) return Fail(s);
  }
  return 0;
}

}  // namespace
}  // namespace fleet

int main(int argc, char** argv) {
  CLI::App app("A Communicator's allreduce (or reduce) bandwidth, nccl-tests style");
  fleet::BenchOptions o;
  app.add_option("--ranks", o.ranks, "ranks")->check(CLI::Range(2, 64));
  app.add_option("--min-bytes", o.min_bytes, "smallest size (K, M suffixes)");
  app.add_option("--max-bytes", o.max_bytes, "largest size (K, M suffixes)");
  app.add_option("--algorithm", o.algorithm, "Gloo's algorithm (shm: whose order of additions)")
      ->check(CLI::IsMember({"auto", "ring", "bcube"}));
  app.add_option("--transport", o.transport, "gloo (TCP) or shm (shared memory)")
      ->check(CLI::IsMember({"gloo", "shm"}));
  app.add_option("--collective", o.collective, "allreduce, or reduce onto rank 0")
      ->check(CLI::IsMember({"allreduce", "reduce"}));
  app.add_option("--staging", o.staging, "shm: staging bytes per rank (K, M suffixes)");
  app.add_flag("--processes", o.processes, "ranks as processes (this program started again)");
  app.add_option("--max-iters", o.max_iters, "most timed calls per size")
      ->check(CLI::Range(3, 10000));
  app.add_option("--peer-rank", o.peer_rank)->group("");  // set for the peers it starts
  app.add_option("--store-port", o.store_port)->group("");
  app.set_version_flag("--version", [] { return fleet::VersionText("fleet-bench-allreduce"); });
  CLI11_PARSE(app, argc, argv);
  const int64_t lo = fleet::ParseBytes(o.min_bytes), hi = fleet::ParseBytes(o.max_bytes);
  if (lo < 4 || hi < lo || fleet::ParseBytes(o.staging) < 0) {
    std::fprintf(stderr, "fleet-bench-allreduce: error: sizes %s..%s; expected 4 <= min <= max\n",
                 o.min_bytes.c_str(), o.max_bytes.c_str());
    return 2;
  }
  return o.peer_rank >= 0 ? fleet::RunPeer(o) : fleet::Run(o);
}
