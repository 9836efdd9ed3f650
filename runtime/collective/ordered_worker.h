// OrderedWorker: one thread that runs queued work items one at a time, in the order they were
// queued, each completing its own event. A communicator issues its collectives through one, so
// that they run in issue order on every rank while the issuing thread goes on. Internal to
// runtime/collective.
//
// The thread sleeps on a condition variable while the queue is empty. It blocks SIGPIPE for
// itself and for the threads it starts (Gloo's TCP transport writes with writev, which would
// otherwise kill the process when a peer dies mid-write; the write then fails with EPIPE).
//
// Thread safety: Run may be called from any thread.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

#include "absl/status/status.h"
#include "executor/event.h"

namespace fleet {

class OrderedWorker {
 public:
  OrderedWorker();
  // Runs everything still queued, then stops the thread.
  ~OrderedWorker();

  OrderedWorker(const OrderedWorker&) = delete;
  OrderedWorker& operator=(const OrderedWorker&) = delete;

  // Queues `work`; the returned event completes with its status once it has run.
  std::shared_ptr<CompletionEvent> Run(std::function<absl::Status()> work);

 private:
  struct Item {
    std::function<absl::Status()> work;
    std::shared_ptr<CompletionEvent> done;
  };
  void Loop();

  std::mutex mu_;
  std::condition_variable wake_;
  std::deque<Item> queue_;
  bool stopping_ = false;
  std::thread thread_;  // last: starts after the members above exist
};

}  // namespace fleet
