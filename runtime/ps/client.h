// A worker's connection to every parameter server of its job. Calls fan out to the servers in
// parallel (one request per server, each with a deadline) and come back as the first error,
// naming the server and its endpoint. Idempotent calls are retried on transient failures; a
// background thread sends heartbeats, so the servers can tell a slow worker from a dead one.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "runtime/ps/ps.pb.h"
#include "runtime/ps/service.h"

namespace fleet::ps {

// The data calls' traffic so far (push and pull calls that succeeded, one per server each;
// heartbeats and control calls not counted): serialized message bytes, which is what goes on
// the wire apart from gRPC's few bytes of framing per message.
struct PsTraffic {
  int64_t calls = 0;
  int64_t bytes_sent = 0;
  int64_t bytes_received = 0;
};
struct PsTrafficCounters {
  std::atomic<int64_t> calls{0};
  std::atomic<int64_t> bytes_sent{0};
  std::atomic<int64_t> bytes_received{0};
};

struct PsClientOptions {
  std::vector<std::string> endpoints;  // server i's host:port
  int worker = 0;
  // How long Connect waits for the servers to come up (workers may start first).
  absl::Duration connect_timeout = absl::Seconds(120);
  // Deadline of one call. A sync pull waits for the slowest worker's step, so it is long;
  // dead peers are found by heartbeats, not by this.
  absl::Duration rpc_timeout = absl::Minutes(30);
  absl::Duration heartbeat_interval = absl::Seconds(1);
  int64_t max_message_bytes = kDefaultMaxMessageBytes;
};

class PsClient {
 public:
  // Waits for every server (retrying until connect_timeout), checks that server i is the one
  // listed i-th and that it expects this worker, then starts the heartbeats. UNAVAILABLE naming
  // the first server that did not come up.
  static absl::StatusOr<std::unique_ptr<PsClient>> Connect(PsClientOptions options);
  ~PsClient();  // stops the heartbeats

  int num_servers() const { return static_cast<int>(options_.endpoints.size()); }
  int worker() const { return options_.worker; }
  // The job's number of workers, as the servers know it (they said so when this connected).
  int num_workers() const { return num_workers_; }

  // requests[i] goes to server i; requests with `skip[i]` set are not sent (skip may be null).
  absl::Status Push(const std::vector<proto::PushRequest>& requests);
  absl::Status PullDense(const std::vector<proto::PullDenseRequest>& requests,
                         std::vector<proto::PullDenseReply>* replies);
  absl::Status PullSparse(const std::vector<proto::PullSparseRequest>& requests,
                          const std::vector<bool>& skip,
                          std::vector<proto::PullSparseReply>* replies);
  PsTraffic traffic() const;

  // Asks every server to write its part of a checkpoint into `dir` (dir/pserver.<i>).
  absl::Status Save(const std::string& dir);
  // Tells every server this worker has finished; stops the heartbeats.
  absl::Status Done();

 private:
  struct Server;
  explicit PsClient(PsClientOptions options);
  // `status` with the servers whose last heartbeat failed named (when it does not name them
  // itself): a data call may fail because of them without talking to them.
  absl::Status Annotate(absl::Status status) const;
  // One Control call of `kind` to every server.
  absl::Status ControlAll(proto::ControlRequest::Kind kind, const std::string& path,
                          absl::Duration timeout, const char* what);
  void HeartbeatLoop();
  void StopHeartbeats();

  PsClientOptions options_;
  std::vector<std::unique_ptr<Server>> servers_;
  PsTrafficCounters traffic_;
  int num_workers_ = 1;
  std::mutex mu_;
  std::condition_variable stop_cv_;
  bool stop_ = false;
  std::thread heartbeat_;
};

}  // namespace fleet::ps
