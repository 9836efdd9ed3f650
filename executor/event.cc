#include "executor/event.h"

#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace fleet {

void CompletionEvent::Complete(absl::Status status) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (done_) return;
    done_ = true;
    status_ = std::move(status);
  }
  done_cv_.notify_all();
}

bool CompletionEvent::Ready() const {
  std::lock_guard<std::mutex> lock(mu_);
  return done_;
}

absl::Status CompletionEvent::Wait(Clock::time_point deadline) {
  std::unique_lock<std::mutex> lock(mu_);
  if (!done_cv_.wait_until(lock, deadline, [this] { return done_; })) {
    return absl::DeadlineExceededError("the event did not complete before the deadline");
  }
  return status_;
}

absl::Status AwaitPendingSlow(std::shared_ptr<Event>& event, const std::string& op_description,
                              std::chrono::milliseconds timeout) {
  std::shared_ptr<Event> waiting = std::move(event);
  event = nullptr;
  absl::Status status = waiting->Wait(Clock::now() + timeout);
  if (status.ok()) return status;
  if (absl::IsDeadlineExceeded(status)) {
    return absl::DeadlineExceededError(absl::StrCat(op_description, ": outputs not ready after ",
                                                    timeout.count(),
                                                    " ms (ExecutorOptions::wait_timeout)"));
  }
  if (absl::StartsWith(status.message(), absl::string_view(op_description))) return status;
  return absl::Status(status.code(), absl::StrCat(op_description, ": ", status.message()));
}

}  // namespace fleet
