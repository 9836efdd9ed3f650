// Helpers for the collective tests: ranks as threads of the test process (Gloo's way of testing
// collectives), each with its own store client and communicator (Gloo over 127.0.0.1 only, or
// shared memory).
#pragma once

#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "runtime/collective/gloo_communicator.h"
#include "runtime/collective/shm_communicator.h"
#include "runtime/collective/store.h"

extern char** environ;

namespace fleet::testing {

enum class StoreKind { kFile, kTcp };

inline const char* StoreKindName(StoreKind kind) {
  return kind == StoreKind::kFile ? "File" : "Tcp";
}

// A fresh folder under the temporary folder, removed with its contents at destruction.
class TempFolder {
 public:
  TempFolder() {
    std::string pattern = (std::filesystem::temp_directory_path() / "fleet_coll_XXXXXX").string();
    if (mkdtemp(pattern.data()) != nullptr) path_ = pattern;
    EXPECT_FALSE(path_.empty()) << "mkdtemp failed";
  }
  ~TempFolder() {
    std::error_code ignored;
    if (!path_.empty()) std::filesystem::remove_all(path_, ignored);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Rank `rank`'s values for tensor `index` of a bucket: quarters of small integers, so that any
// order of summing them is exact and results compare with ==.
template <typename T>
std::vector<T> ExactValues(int rank, int index, int64_t n) {
  std::mt19937 rng(1000 * rank + index);
  std::uniform_int_distribution<int> dist(-4000, 4000);
  std::vector<T> v(n);
  for (T& x : v) x = static_cast<T>(dist(rng)) / 4;
  return v;
}

template <typename T>
Tensor MakeTensor(DataType dtype, const std::vector<T>& values, std::vector<int64_t> shape) {
  Tensor t(dtype, std::move(shape));
  if (!values.empty()) std::memcpy(t.raw_data(), values.data(), values.size() * sizeof(T));
  return t;
}

template <typename T>
std::vector<T> Values(const Tensor& t) {
  return std::vector<T>(t.data<T>(), t.data<T>() + t.numel());
}

// A child process this test started; killed (SIGKILL) and reaped at the latest when destroyed.
class ChildProcess {
 public:
  explicit ChildProcess(std::vector<std::string> args) {
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    int rc = posix_spawn(&pid_, argv[0], nullptr, nullptr, argv.data(), environ);
    EXPECT_EQ(rc, 0) << "cannot start " << args[0];
    if (rc != 0) pid_ = -1;
  }
  ~ChildProcess() { Kill(); }
  pid_t pid() const { return pid_; }
  // Kills the child and reaps it; returns its wait status.
  int Kill() {
    if (pid_ <= 0) return status_;
    kill(pid_, SIGKILL);
    waitpid(pid_, &status_, 0);
    pid_ = -1;
    return status_;
  }
  // Waits up to `timeout` for the child to exit (sleeping on a pidfd) and reaps it; returns its
  // wait status, or kills it and returns -1 when it did not exit in time.
  int Wait(std::chrono::milliseconds timeout) {
    if (pid_ <= 0) return status_;
    const int fd = static_cast<int>(syscall(SYS_pidfd_open, pid_, 0));
    pollfd p{fd, POLLIN, 0};
    const bool exited = fd >= 0 && poll(&p, 1, static_cast<int>(timeout.count())) == 1;
    if (fd >= 0) close(fd);
    if (!exited) {
      Kill();
      return -1;
    }
    waitpid(pid_, &status_, 0);
    pid_ = -1;
    return status_;
  }

 private:
  pid_t pid_ = -1;
  int status_ = 0;
};

// The names in /dev/shm that a Fleet process could have left there (containing "fleet": other
// programs on the machine may come and go meanwhile).
inline std::vector<std::string> FleetDevShmEntries() {
  std::vector<std::string> names;
  std::error_code ignored;
  for (const auto& entry : std::filesystem::directory_iterator("/dev/shm", ignored)) {
    const std::string name = entry.path().filename().string();
    std::string lower = name;
    std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
    if (lower.find("fleet") != std::string::npos) names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  return names;
}

// The files this process maps the collective segment from (lines of /proc/self/maps naming
// "fleet-collective", without their addresses); each should be "/memfd:fleet-collective
// (deleted)": a file without a name in any folder.
inline std::vector<std::string> SegmentMappings() {
  std::vector<std::string> files;
  std::ifstream maps("/proc/self/maps");
  for (std::string line; std::getline(maps, line);) {
    const size_t at = line.find('/');
    if (line.find("fleet-collective") != std::string::npos && at != std::string::npos) {
      files.push_back(line.substr(at));
    }
  }
  return files;
}

// Runs fn(rank) for every rank on threads of its own and joins them all.
inline void RunRanks(int size, const std::function<void(int)>& fn) {
  std::vector<std::thread> threads;
  for (int r = 0; r < size; ++r) threads.emplace_back(fn, r);
  for (std::thread& t : threads) t.join();
}

// One store client per rank. TCP: rank 0's serves on a free 127.0.0.1 port and the others
// connect to it; File: each opens `folder`.
inline std::vector<std::shared_ptr<Store>> MakeStores(StoreKind kind, int size,
                                                      const std::string& folder) {
  std::vector<std::shared_ptr<Store>> stores;
  if (kind == StoreKind::kFile) {
    for (int r = 0; r < size; ++r) {
      auto store = FileStore::Open(folder);
      EXPECT_TRUE(store.ok()) << store.status();
      if (!store.ok()) return {};
      stores.push_back(*std::move(store));
    }
    return stores;
  }
  auto server = TcpStore::Serve("127.0.0.1", 0);
  EXPECT_TRUE(server.ok()) << server.status();
  if (!server.ok()) return {};
  const int port = (*server)->port();
  stores.push_back(*std::move(server));
  for (int r = 1; r < size; ++r) {
    auto client = TcpStore::Connect("127.0.0.1", port, std::chrono::seconds(10));
    EXPECT_TRUE(client.ok()) << client.status();
    if (!client.ok()) return {};
    stores.push_back(*std::move(client));
  }
  return stores;
}

// A group of `size` communicators of type Comm (created from Options) joined concurrently, as
// separate ranks would; `tweak` adjusts the options every rank uses. Empty (after test failures)
// when a rank could not join.
template <typename Comm, typename Options>
class BasicGroup {
 public:
  BasicGroup(StoreKind kind, int size, const std::function<void(Options&)>& tweak = nullptr) {
    std::vector<std::shared_ptr<Store>> stores = MakeStores(kind, size, folder_.path());
    if (static_cast<int>(stores.size()) != size) return;
    comms_.resize(size);
    RunRanks(size, [&](int rank) {
      Options options;
      options.rank = rank;
      options.size = size;
      options.store = stores[rank];
      options.rendezvous_timeout = std::chrono::seconds(20);
      options.timeout = std::chrono::seconds(20);
      if (tweak) tweak(options);
      auto comm = Comm::Create(options);
      EXPECT_TRUE(comm.ok()) << "rank " << rank << ": " << comm.status();
      if (comm.ok()) comms_[rank] = *std::move(comm);
    });
    for (const auto& c : comms_) {
      if (c == nullptr) comms_.clear();
    }
  }
  bool ok() const { return !comms_.empty(); }
  int size() const { return static_cast<int>(comms_.size()); }
  Comm& operator[](int rank) { return *comms_[rank]; }
  std::shared_ptr<Comm> shared(int rank) { return comms_[rank]; }
  // Drops the group's reference to `rank`'s communicator (destroying it unless shared).
  void Close(int rank) { comms_[rank].reset(); }

 private:
  TempFolder folder_;
  std::vector<std::shared_ptr<Comm>> comms_;
};

using Group = BasicGroup<GlooCommunicator, GlooCommunicatorOptions>;
using ShmGroup = BasicGroup<ShmCommunicator, ShmCommunicatorOptions>;

// Waits for `event` (with a deadline) and returns its status.
inline absl::Status Await(const absl::StatusOr<std::shared_ptr<Event>>& event,
                          std::chrono::seconds timeout = std::chrono::seconds(30)) {
  if (!event.ok()) return event.status();
  return (*event)->Wait(Clock::now() + timeout);
}

// A reduce-scatter of an f64[n, 2501] on every rank of `group` (the parts have an odd size),
// sum and mean: each rank's part must hold the sum (or mean) of every rank's values there,
// computed here.
template <typename GroupT>
void CheckReduceScatter(GroupT& group) {
  const int n = group.size();
  const int64_t part = 2501, count = n * part;
  std::vector<std::vector<double>> inputs(n);
  for (int r = 0; r < n; ++r) inputs[r] = ExactValues<double>(r, 3, count);
  for (const ReduceOp op : {ReduceOp::kSum, ReduceOp::kMean}) {
    RunRanks(n, [&](int rank) {
      Tensor t = MakeTensor(DataType::kF64, inputs[rank], {n, part});
      absl::Status s = Await(group[rank].ReduceScatter(t, op));
      ASSERT_TRUE(s.ok()) << "rank " << rank << ": " << s;
      const std::vector<double> got = Values<double>(t);
      for (int64_t j = rank * part; j < (rank + 1) * part; ++j) {
        double expected = 0;
        for (int r = 0; r < n; ++r) expected += inputs[r][j];
        if (op == ReduceOp::kMean) expected /= n;
        ASSERT_EQ(got[j], expected) << "rank " << rank << ", element " << j;
      }
    });
  }
}

}  // namespace fleet::testing
