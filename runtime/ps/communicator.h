// A worker's background sender for the async and half-async modes (Paddle's Communicator): the
// push kernel queues a step's gradients and returns at once; one thread takes whatever has
// queued up, averages the steps into one request per server (repeated rows merged by id) and
// sends it while the next steps compute. After each send (or every few: Paddle's
// min_send_grad_num_before_recv) it pulls the dense parameters it was asked to track, so the
// pull kernel takes fresh values without a round trip on the step's path.
//
// The queue is bounded: a worker that computes faster than the network carries waits in
// Enqueue (on a condition variable) instead of growing memory. A send error is kept and
// returned by the next call, naming the server.
//
// Thread-safe: kernels call it from the executor's thread while the sender runs.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "runtime/ps/client.h"
#include "runtime/ps/ps.pb.h"

namespace fleet::ps {

struct CommunicatorOptions {
  int max_queued_steps = 16;                   // Enqueue waits beyond this
  int max_merged_steps = 16;                   // steps added together into one send
  absl::Duration timeout = absl::Minutes(10);  // the longest Enqueue or Flush waits
};

class AsyncCommunicator {
 public:
  AsyncCommunicator(PsClient* client, CommunicatorOptions options = {});
  ~AsyncCommunicator();  // stops the sender; what is still queued is dropped (Flush first)

  // Queues one step's pushes (requests[i] for server i).
  absl::Status Enqueue(std::vector<proto::PushRequest> requests);
  // Waits until everything queued so far has been sent and applied by the servers.
  absl::Status Flush();

  // Asks the sender to pull these blocks after each of its first `warmup` sends, then after
  // every `every`-th send (the pull kernel's requests, one per server; replaces any earlier
  // set).
  void TrackDense(std::vector<proto::PullDenseRequest> requests, int64_t every = 1,
                  int64_t warmup = 0);
  // The dense values the sender pulled last, if newer than `*version` (then `*version` is
  // updated); null when there is nothing newer. Shared, not copied: the sender replaces them
  // with a new set and never changes one it handed out.
  std::shared_ptr<const std::vector<proto::PullDenseReply>> LatestDense(int64_t* version);

  // Steps sent so far, sends (several steps merged make one send), and the sender's pulls.
  int64_t steps_sent() const;
  int64_t sends() const;
  int64_t pulls() const;

 private:
  void SendLoop();
  absl::Status SendMerged(std::vector<std::vector<proto::PushRequest>>& steps);

  PsClient* client_;
  CommunicatorOptions options_;
  mutable std::mutex mu_;
  std::condition_variable changed_;
  std::deque<std::vector<proto::PushRequest>> queue_;
  int64_t queued_total_ = 0;  // steps ever queued
  int64_t sent_total_ = 0;    // steps sent (or failed)
  int64_t sends_ = 0;
  bool stop_ = false;
  absl::Status error_;
  std::vector<proto::PullDenseRequest> tracked_;
  int64_t pull_every_ = 1;
  int64_t pull_warmup_ = 0;
  int64_t pulls_ = 0;
  std::shared_ptr<const std::vector<proto::PullDenseReply>> latest_;
  int64_t latest_version_ = 0;
  std::thread sender_;
};

}  // namespace fleet::ps
