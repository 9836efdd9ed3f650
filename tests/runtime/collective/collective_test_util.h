// Helpers for the collective tests: ranks as threads of the test process (Gloo's way of testing
// collectives), each with its own store client and communicator, over 127.0.0.1 only.
#pragma once

#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "runtime/collective/gloo_communicator.h"
#include "runtime/collective/store.h"

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

// A group of `size` communicators joined concurrently, as separate ranks would; `tweak` adjusts
// the options every rank uses. Empty (after test failures) when a rank could not join.
class Group {
 public:
  Group(StoreKind kind, int size,
        const std::function<void(GlooCommunicatorOptions&)>& tweak = nullptr) {
    std::vector<std::shared_ptr<Store>> stores = MakeStores(kind, size, folder_.path());
    if (static_cast<int>(stores.size()) != size) return;
    comms_.resize(size);
    RunRanks(size, [&](int rank) {
      GlooCommunicatorOptions options;
      options.rank = rank;
      options.size = size;
      options.store = stores[rank];
      options.rendezvous_timeout = std::chrono::seconds(20);
      options.timeout = std::chrono::seconds(20);
      if (tweak) tweak(options);
      auto comm = GlooCommunicator::Create(options);
      EXPECT_TRUE(comm.ok()) << "rank " << rank << ": " << comm.status();
      if (comm.ok()) comms_[rank] = *std::move(comm);
    });
    for (const auto& c : comms_) {
      if (c == nullptr) comms_.clear();
    }
  }
  bool ok() const { return !comms_.empty(); }
  int size() const { return static_cast<int>(comms_.size()); }
  GlooCommunicator& operator[](int rank) { return *comms_[rank]; }
  std::shared_ptr<GlooCommunicator> shared(int rank) { return comms_[rank]; }

 private:
  TempFolder folder_;
  std::vector<std::shared_ptr<GlooCommunicator>> comms_;
};

// Waits for `event` (with a deadline) and returns its status.
inline absl::Status Await(const absl::StatusOr<std::shared_ptr<Event>>& event,
                          std::chrono::seconds timeout = std::chrono::seconds(30)) {
  if (!event.ok()) return event.status();
  return (*event)->Wait(Clock::now() + timeout);
}

}  // namespace fleet::testing
