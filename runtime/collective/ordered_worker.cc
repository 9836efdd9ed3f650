#include "runtime/collective/ordered_worker.h"

#include <signal.h>

#include <utility>

namespace fleet {

OrderedWorker::OrderedWorker() : thread_([this] { Loop(); }) {}

OrderedWorker::~OrderedWorker() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  wake_.notify_one();
  thread_.join();
}

std::shared_ptr<CompletionEvent> OrderedWorker::Run(std::function<absl::Status()> work) {
  auto done = std::make_shared<CompletionEvent>();
  {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.push_back(Item{std::move(work), done});
  }
  wake_.notify_one();
  return done;
}

void OrderedWorker::Loop() {
  sigset_t pipe;
  sigemptyset(&pipe);
  sigaddset(&pipe, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe, nullptr);
  for (;;) {
    Item item;
    {
      std::unique_lock<std::mutex> lock(mu_);
      wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, and nothing left to run
      item = std::move(queue_.front());
      queue_.pop_front();
    }
    item.done->Complete(item.work());
  }
}

}  // namespace fleet
