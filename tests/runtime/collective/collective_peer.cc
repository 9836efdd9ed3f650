// A rank in a process of its own, for the failure tests (collective_failure_test.cc starts it,
// and kills it):
//
//   collective_peer RANK SIZE PORT allreduce-loop
//
// joins the group whose TCP store is served on 127.0.0.1:PORT, then allreduces 1M floats of value
// RANK + 1 again and again until one fails (exit 1), checking each result against the closed
// form (exit 2 when wrong). It dies with the test process (PR_SET_PDEATHSIG).
#include <sys/prctl.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "runtime/collective/gloo_communicator.h"

int main(int argc, char** argv) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (argc != 5 || std::string(argv[4]) != "allreduce-loop") {
    std::fprintf(stderr, "usage: collective_peer RANK SIZE PORT allreduce-loop\n");
    return 64;
  }
  const int rank = std::atoi(argv[1]);
  const int size = std::atoi(argv[2]);
  const int port = std::atoi(argv[3]);
  auto store = fleet::TcpStore::Connect("127.0.0.1", port, std::chrono::seconds(30));
  if (!store.ok()) {
    std::fprintf(stderr, "rank %d: %s\n", rank, std::string(store.status().message()).c_str());
    return 1;
  }
  fleet::GlooCommunicatorOptions options;
  options.rank = rank;
  options.size = size;
  options.store = *std::move(store);
  options.rendezvous_timeout = std::chrono::seconds(30);
  options.timeout = std::chrono::seconds(60);
  auto comm = fleet::GlooCommunicator::Create(options);
  if (!comm.ok()) {
    std::fprintf(stderr, "rank %d: %s\n", rank, std::string(comm.status().message()).c_str());
    return 1;
  }
  const int64_t n = 1 << 20;
  const float expected = static_cast<float>(size * (size + 1) / 2);  // sum of rank + 1
  for (;;) {
    fleet::Tensor t(fleet::DataType::kF32, {n});
    for (int64_t i = 0; i < n; ++i) t.data<float>()[i] = static_cast<float>(rank + 1);
    auto done = (*comm)->AllReduce({t}, fleet::ReduceOp::kSum);
    absl::Status s =
        done.ok() ? (*done)->Wait(fleet::Clock::now() + std::chrono::seconds(120)) : done.status();
    if (!s.ok()) {
      std::fprintf(stderr, "rank %d: %s\n", rank, std::string(s.message()).c_str());
      return 1;
    }
    for (int64_t i = 0; i < n; ++i) {
      if (t.data<float>()[i] != expected) return 2;
    }
  }
}
