// Rendezvous stores: the small key-value stores through which the ranks of a job find each other
// before they can talk directly (Gloo publishes each rank's connection addresses in one).
//
//   FileStore   a folder that every rank of one host can reach (one file per key);
//   TcpStore    rank 0 serves the keys on host:port, the other ranks connect to it.
//
// Every wait has a deadline. Rendezvous() registers a rank and waits for all the others, so that a
// rank that never comes is named:
//   rendezvous at 127.0.0.1:29500 timed out after 10s: ranks 2, 3 of 4 never arrived
//
// A store holds a job's keys for one run: start each job with a fresh folder or server, since
// keys left by an earlier run would satisfy its waits.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace fleet {

// The interface the collective runtime and Gloo's adapter use.
// Thread safety: every method may be called from any thread; calls on one TcpStore client are
// served one at a time.
class Store {
 public:
  virtual ~Store() = default;

  // Sets `key` to `value`, replacing any earlier value.
  virtual absl::Status Set(std::string_view key, std::string_view value) = 0;
  // The value of `key`; NOT_FOUND when it is not set (does not wait).
  virtual absl::StatusOr<std::string> Get(std::string_view key) = 0;
  // Blocks until every key is set, or `timeout` passes: then DEADLINE_EXCEEDED naming the
  // missing keys, which are also written to `missing` when given.
  virtual absl::Status Wait(const std::vector<std::string>& keys, std::chrono::milliseconds timeout,
                            std::vector<std::string>* missing = nullptr) = 0;
  // Where the store is, for messages: "127.0.0.1:29500", "file store /tmp/job".
  virtual std::string Describe() const = 0;
};

// Registers `rank` of `size` under `prefix` and waits up to `timeout` until every rank has done
// the same. DEADLINE_EXCEEDED names the ranks that did not come:
// "rendezvous at 127.0.0.1:29500 timed out after 10s: ranks 2, 3 of 4 never arrived (hint: ...)".
absl::Status Rendezvous(Store& store, const std::string& prefix, int rank, int size,
                        std::chrono::milliseconds timeout);

// A store in a folder shared by the ranks of one host. Set writes a temporary file and renames it
// into place, so a reader sees a whole value or none; Wait sleeps on inotify events of the
// folder, never polling it.
class FileStore final : public Store {
 public:
  // Uses `folder`, creating it (not its parents) when missing.
  static absl::StatusOr<std::unique_ptr<FileStore>> Open(std::string folder);

  absl::Status Set(std::string_view key, std::string_view value) override;
  absl::StatusOr<std::string> Get(std::string_view key) override;
  absl::Status Wait(const std::vector<std::string>& keys, std::chrono::milliseconds timeout,
                    std::vector<std::string>* missing = nullptr) override;
  std::string Describe() const override;

 private:
  explicit FileStore(std::string folder) : folder_(std::move(folder)) {}
  // The file of `key`: bytes other than [A-Za-z0-9._-] are written as %XX.
  std::string PathOf(std::string_view key) const;

  const std::string folder_;
};

class TcpStoreServer;  // runtime/collective/tcp_store_server.h

// A store served over TCP by one rank (rank 0) and reached by all of them, rank 0 included.
// The server is a thread of the serving rank's process: it lives as long as that TcpStore.
class TcpStore final : public Store {
 public:
  // Serves on `host`:`port` (port 0: a free port, see port()) and connects to it.
  static absl::StatusOr<std::unique_ptr<TcpStore>> Serve(const std::string& host, int port);
  // Connects to the store served on `host`:`port`, retrying until `timeout` passes (the serving
  // rank may start last).
  static absl::StatusOr<std::unique_ptr<TcpStore>> Connect(const std::string& host, int port,
                                                           std::chrono::milliseconds timeout);
  ~TcpStore() override;

  // The port the store is served on.
  int port() const { return port_; }

  absl::Status Set(std::string_view key, std::string_view value) override;
  absl::StatusOr<std::string> Get(std::string_view key) override;
  absl::Status Wait(const std::vector<std::string>& keys, std::chrono::milliseconds timeout,
                    std::vector<std::string>* missing = nullptr) override;
  std::string Describe() const override;

 private:
  class Client;  // the connection to the server (tcp_store.cc)
  TcpStore(std::string host, int port, std::unique_ptr<TcpStoreServer> server,
           std::unique_ptr<Client> client);

  const std::string host_;
  const int port_;
  std::unique_ptr<TcpStoreServer> server_;  // set on the serving rank only
  std::unique_ptr<Client> client_;
};

}  // namespace fleet
