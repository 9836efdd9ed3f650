// fleet-bench-allreduce: GlooCommunicator's in-place allreduce (sum), nccl-tests style, with its
// ranks as threads of this process over 127.0.0.1 (a TcpStore on a free port), and beside it the
// peer every rank's traffic is bounded by: the same bytes exchanged both ways over one raw
// loopback TCP connection between two threads.
//
//   fleet-bench-allreduce --ranks 2 --min-bytes 1K --max-bytes 256M --algorithm auto
//
// One row per size (doubling): bytes, elements, type, time per call (median of the timed
// calls), algbw = bytes / time, busbw = algbw * 2(n-1)/n (what each rank's link carried), the
// elements that came out wrong on any rank, and the raw TCP exchange's bandwidth for the same
// bytes.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
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
#include "runtime/collective/gloo_communicator.h"
#include "tools/version.h"

namespace fleet {
namespace {

using SteadyClock = std::chrono::steady_clock;

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

int Run(int ranks, int64_t min_bytes, int64_t max_bytes, AllReduceAlgorithm algorithm,
        int max_iters) {
  auto server = TcpStore::Serve("127.0.0.1", 0);
  if (!server.ok()) {
    std::fprintf(stderr, "fleet-bench-allreduce: %s\n",
                 std::string(server.status().message()).c_str());
    return 1;
  }
  std::vector<std::shared_ptr<Store>> stores;
  const int port = (*server)->port();
  stores.push_back(*std::move(server));
  for (int r = 1; r < ranks; ++r) {
    auto client = TcpStore::Connect("127.0.0.1", port, std::chrono::seconds(10));
    if (!client.ok()) return 1;
    stores.push_back(*std::move(client));
  }
  std::vector<std::shared_ptr<GlooCommunicator>> comms(ranks);
  std::vector<std::thread> joiners;
  for (int r = 0; r < ranks; ++r) {
    joiners.emplace_back([&, r] {
      GlooCommunicatorOptions options;
      options.rank = r;
      options.size = ranks;
      options.store = stores[r];
      options.algorithm = algorithm;
      auto comm = GlooCommunicator::Create(options);
      if (comm.ok())
        comms[r] = *std::move(comm);
      else
        std::fprintf(stderr, "%s\n", std::string(comm.status().message()).c_str());
    });
  }
  for (std::thread& t : joiners) t.join();
  for (const auto& c : comms) {
    if (c == nullptr) return 1;
  }

  std::printf("# fleet-bench-allreduce: %d ranks as threads of one process, 127.0.0.1, Gloo TCP\n",
              ranks);
  std::printf("# machine: %s, %u hardware threads; algorithm: %s\n", CpuName().c_str(),
              std::thread::hardware_concurrency(),
              algorithm == AllReduceAlgorithm::kAuto   ? "auto (bcube <= 1 MiB < ring)"
              : algorithm == AllReduceAlgorithm::kRing ? "ring"
                                                       : "bcube");
  std::printf(
      "# in-place sum of f32; time is the median call; peer: the same bytes exchanged "
      "both ways over one raw loopback TCP connection\n");
  std::printf("%12s %12s %5s %12s %10s %10s %8s %14s\n", "size(B)", "count", "type", "time(us)",
              "algbw(GB/s)", "busbw(GB/s)", "#wrong", "tcp-peer(GB/s)");

  const double bus_factor = 2.0 * (ranks - 1) / ranks;
  for (int64_t bytes = min_bytes; bytes <= max_bytes; bytes *= 2) {
    const int64_t count = bytes / static_cast<int64_t>(sizeof(float));
    std::vector<Tensor> tensors;
    for (int r = 0; r < ranks; ++r)
      tensors.emplace_back(DataType::kF32, std::vector<int64_t>{count});
    // One call per rank, all ranks at once; returns the slowest rank's seconds.
    auto call = [&]() {
      std::vector<double> seconds(ranks);
      std::vector<std::thread> threads;
      for (int r = 0; r < ranks; ++r) {
        threads.emplace_back([&, r] {
          auto t0 = SteadyClock::now();
          auto done = comms[r]->AllReduce({tensors[r]}, ReduceOp::kSum);
          absl::Status s =
              done.ok() ? (*done)->Wait(Clock::now() + std::chrono::seconds(300)) : done.status();
          if (!s.ok()) std::fprintf(stderr, "rank %d: %s\n", r, std::string(s.message()).c_str());
          seconds[r] = std::chrono::duration<double>(SteadyClock::now() - t0).count();
        });
      }
      for (std::thread& t : threads) t.join();
      return *std::max_element(seconds.begin(), seconds.end());
    };
    const double first = call();  // warm-up, also sizes the run
    const int iters = ItersFor(first, max_iters);
    std::vector<double> times;
    for (int i = 0; i < iters; ++i) times.push_back(call());
    const double t = Median(times);

    // Correctness: rank r holds r + 1 everywhere; the sum is n(n+1)/2.
    for (int r = 0; r < ranks; ++r) std::fill_n(tensors[r].data<float>(), count, r + 1.0f);
    call();
    const float expected = static_cast<float>(ranks * (ranks + 1) / 2);
    int64_t wrong = 0;
    for (int r = 0; r < ranks; ++r) {
      const float* p = tensors[r].data<float>();
      for (int64_t i = 0; i < count; ++i) wrong += p[i] != expected;
    }
    const double algbw = static_cast<double>(bytes) / t / 1e9;
    const double peer = TcpExchangeSeconds(static_cast<size_t>(bytes), std::min(iters, 20));
    std::printf("%12lld %12lld %5s %12.1f %10.3f %10.3f %8lld %14.3f\n",
                static_cast<long long>(bytes), static_cast<long long>(count), "f32", t * 1e6, algbw,
                algbw * bus_factor, static_cast<long long>(wrong),
                peer > 0 ? static_cast<double>(bytes) / peer / 1e9 : 0.0);
    std::fflush(stdout);
  }
  return 0;
}

}  // namespace
}  // namespace fleet

int main(int argc, char** argv) {
  CLI::App app("GlooCommunicator allreduce bandwidth, nccl-tests style");
  int ranks = 2;
  std::string min_bytes = "1K", max_bytes = "256M", algorithm = "auto";
  int max_iters = 50;
  app.add_option("--ranks", ranks, "ranks (threads of this process)")->check(CLI::Range(2, 64));
  app.add_option("--min-bytes", min_bytes, "smallest size (K, M suffixes)");
  app.add_option("--max-bytes", max_bytes, "largest size (K, M suffixes)");
  app.add_option("--algorithm", algorithm, "auto, ring or bcube")
      ->check(CLI::IsMember({"auto", "ring", "bcube"}));
  app.add_option("--max-iters", max_iters, "most timed calls per size")
      ->check(CLI::Range(3, 10000));
  app.set_version_flag("--version", [] { return fleet::VersionText("fleet-bench-allreduce"); });
  CLI11_PARSE(app, argc, argv);
  auto parse = [](const std::string& text) -> int64_t {
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
  };
  const int64_t lo = parse(min_bytes), hi = parse(max_bytes);
  if (lo < 4 || hi < lo) {
    std::fprintf(stderr, "fleet-bench-allreduce: error: sizes %s..%s; expected 4 <= min <= max\n",
                 min_bytes.c_str(), max_bytes.c_str());
    return 2;
  }
  const fleet::AllReduceAlgorithm a = algorithm == "ring"    ? fleet::AllReduceAlgorithm::kRing
                                      : algorithm == "bcube" ? fleet::AllReduceAlgorithm::kBcube
                                                             : fleet::AllReduceAlgorithm::kAuto;
  return fleet::Run(ranks, lo, hi, a, max_iters);
}
