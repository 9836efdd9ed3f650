// Events: the completion of work a kernel started but did not finish before returning (a
// collective in flight, a copy or kernel on a CUDA stream).
//
// A kernel that returns early hands the executor an Event for its outputs
// (KernelContext::SetOutputsPending); the executor waits on it before the first op that reads
// one of those outputs, before an op writes in place into a buffer the pending op uses, and
// before Run returns when an output is fetched or persistable (docs/executor.md). This is the
// shape of PyTorch c10d's Work and ONNX Runtime's stream notifications, without their
// generality.
//
// Thread safety: Ready and Wait may be called from any thread, by several at once.
#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string_view>

#include "absl/status/status.h"

namespace fleet {

using Clock = std::chrono::steady_clock;

class Event {
 public:
  virtual ~Event() = default;
  // True once the work has finished, well or not. Never blocks.
  virtual bool Ready() const = 0;
  // Blocks until the work finishes or `deadline` passes. Returns OK when it finished well, the
  // work's error when it failed, and DEADLINE_EXCEEDED (changing nothing) when the deadline
  // came first; later calls may wait again.
  virtual absl::Status Wait(Clock::time_point deadline) = 0;
};

// An event completed by whoever does the work (a communicator thread, a callback), once.
class CompletionEvent final : public Event {
 public:
  // Marks the work finished with `status`; wakes every waiter. Later calls are ignored.
  void Complete(absl::Status status = absl::OkStatus());

  bool Ready() const override;
  absl::Status Wait(Clock::time_point deadline) override;

 private:
  mutable std::mutex mu_;
  std::condition_variable done_cv_;
  bool done_ = false;
  absl::Status status_;
};

// How long the executor waits for an event when nobody said (ExecutorOptions::wait_timeout),
// and how long KernelContext::SetOutputsPending waits outside an executor.
inline constexpr std::chrono::seconds kDefaultWaitTimeout{300};

// Waits up to `timeout` for the pending outputs of the op described by `op_description`, then
// clears `event`: OK at once when it is null; the event's error prefixed with the op; or
// DEADLINE_EXCEEDED "op 'x' (T): outputs not ready after 50 ms (ExecutorOptions::wait_timeout)".
absl::Status AwaitPendingSlow(std::shared_ptr<Event>& event, const std::string& op_description,
                              std::chrono::milliseconds timeout);
inline absl::Status AwaitPending(std::shared_ptr<Event>& event, const std::string& op_description,
                                 std::chrono::milliseconds timeout) {
  if (event == nullptr) return absl::OkStatus();  // the synchronous path: one test
  return AwaitPendingSlow(event, op_description, timeout);
}

}  // namespace fleet
