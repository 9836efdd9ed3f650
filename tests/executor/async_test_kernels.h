// Test-only asynchronous kernels for the executor tests: their work finishes on worker threads
// that wait for gates (with deadlines), so a test controls when the work can complete and a
// wrong order fails instead of passing by luck. A Timeline records what happened, in order.
//
// One World per test (AsyncExecutorTest's fixture) holds the gates, the events handed out and
// the worker threads, which it joins when destroyed.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "executor/kernel.h"

namespace fleet::testing {

// When the async kernel's worker may finish its work.
enum class Gate {
  kAfterMark,   // once test.mark has run (an independent op placed after it)
  kOnWait,      // once somebody waits for the event (so an event nobody waits for stays pending)
  kFail,        // at once, with an error
  kRelease,     // once the test releases it at the end (the executor's wait times out first)
  kAfterDelay,  // after World::delay (the work takes that long)
};

// The events a test saw, in order: "start a", "mark", "wait a", "done a", "add r1", ...
class Timeline {
 public:
  void Add(std::string what) {
    std::lock_guard<std::mutex> lock(mu_);
    events_.push_back(std::move(what));
  }
  std::vector<std::string> events() const {
    std::lock_guard<std::mutex> lock(mu_);
    return events_;
  }
  // Position of `what`, or -1.
  int IndexOf(const std::string& what) const {
    std::vector<std::string> e = events();
    auto it = std::find(e.begin(), e.end(), what);
    return it == e.end() ? -1 : static_cast<int>(it - e.begin());
  }

 private:
  mutable std::mutex mu_;
  std::vector<std::string> events_;
};

class World;
inline World* g_world = nullptr;

// The event handed to the executor; it records every wait.
class TestEvent final : public Event {
 public:
  TestEvent(std::string tag, Timeline* log) : tag(std::move(tag)), log_(log) {}
  bool Ready() const override { return done.Ready(); }
  absl::Status Wait(Clock::time_point deadline) override {
    ++waits;
    log_->Add("wait " + tag);
    asked.Complete();
    return done.Wait(deadline);
  }

  const std::string tag;
  CompletionEvent asked;  // somebody waits
  CompletionEvent done;   // the work is finished
  std::atomic<int> waits{0};

 private:
  Timeline* log_;
};

class World {
 public:
  Gate gate = Gate::kAfterMark;
  std::chrono::milliseconds delay{0};  // for Gate::kAfterDelay
  Timeline log;
  CompletionEvent mark_ran;
  CompletionEvent released;
  std::vector<std::shared_ptr<TestEvent>> events;  // in the order the kernels handed them out
  std::atomic<long> input_refs_in_worker{-1};      // use_count of X's buffer seen by a worker

  void Start(std::function<void()> work) { workers_.emplace_back(std::move(work)); }
  ~World() {
    released.Complete();
    for (std::thread& t : workers_) t.join();
  }

 private:
  std::vector<std::thread> workers_;
};

inline std::string Tag(const KernelContext& ctx) { return ctx.GetString("tag", "?"); }

inline absl::Status GateFor(World& w, TestEvent& event) {
  const Clock::time_point deadline = Clock::now() + std::chrono::seconds(5);
  switch (w.gate) {
    case Gate::kAfterMark: {
      absl::Status s = w.mark_ran.Wait(deadline);
      return s.ok() ? s : absl::InternalError("test.mark never ran while the event was pending");
    }
    case Gate::kOnWait:
      return event.asked.Wait(deadline);
    case Gate::kFail:
      return absl::UnavailableError("link to rank 1 is down");
    case Gate::kRelease:
      return w.released.Wait(deadline);
    case Gate::kAfterDelay:
      std::this_thread::sleep_for(w.delay);
      return absl::OkStatus();
  }
  return absl::OkStatus();
}

// Starts `compute(x, y)` on a worker thread and returns with Y pending.
template <typename Compute>
absl::Status StartAsync(KernelContext& ctx, std::vector<int64_t> y_shape, Compute compute) {
  World& w = *g_world;
  Tensor x = ctx.input(0);  // the worker's own references: the executor may drop its slots
  Tensor y = *ctx.Output(0, DataType::kF32, std::move(y_shape));
  auto event = std::make_shared<TestEvent>(Tag(ctx), &w.log);
  w.events.push_back(event);
  w.log.Add("start " + event->tag);
  w.Start([&w, x = std::move(x), y, event, compute]() mutable {
    absl::Status status = GateFor(w, *event);
    if (status.ok()) {
      w.input_refs_in_worker = x.buffer().use_count();
      compute(x, y);
      w.log.Add("done " + event->tag);
    }
    x = Tensor();
    event->done.Complete(status);
  });
  return ctx.SetOutputsPending(event);
}

inline void Double(const Tensor& x, Tensor& y) {
  for (int64_t i = 0; i < x.numel(); ++i) y.data<float>()[i] = 2 * x.data<float>()[i];
}

// test.async_double: Y = 2 X, finished on a worker thread.
inline absl::Status AsyncDouble(KernelContext& ctx) {
  return StartAsync(ctx, ctx.input(0).shape(), Double);
}
// The same, synchronous: the reference run.
inline absl::Status SyncDouble(KernelContext& ctx) {
  Double(ctx.input(0), *ctx.Output(0, DataType::kF32, ctx.input(0).shape()));
  return absl::OkStatus();
}
// test.async_sum: Y[0] = sum of X, finished on a worker thread.
inline absl::Status AsyncSum(KernelContext& ctx) {
  return StartAsync(ctx, {1}, [](const Tensor& x, Tensor& y) {
    float sum = 0;
    for (int64_t i = 0; i < x.numel(); ++i) sum += x.data<float>()[i];
    y.data<float>()[0] = sum;
  });
}
// test.mark: Y = X + 1, and opens the gate of kAfterMark workers.
inline absl::Status Mark(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  Tensor* y = ctx.Output(0, DataType::kF32, x.shape());
  for (int64_t i = 0; i < x.numel(); ++i) y->data<float>()[i] = x.data<float>()[i] + 1;
  g_world->log.Add("mark");
  g_world->mark_ran.Complete();
  return absl::OkStatus();
}
// test.await_events: Y = X + 1, returning only once every event handed out so far is done: an
// independent op that takes longer than the work in flight.
inline absl::Status AwaitEvents(KernelContext& ctx) {
  const Clock::time_point deadline = Clock::now() + std::chrono::seconds(5);
  for (const auto& event : g_world->events) {
    if (!event->done.Wait(deadline).ok()) {
      return absl::InternalError("test.await_events: an event did not complete in 5 s");
    }
  }
  return Mark(ctx);
}
// Add: C = A + B.
inline absl::Status Add(KernelContext& ctx) {
  const Tensor& a = ctx.input(0);
  const Tensor& b = ctx.input(1);
  Tensor* c = ctx.Output(0, DataType::kF32, a.shape());
  for (int64_t i = 0; i < a.numel(); ++i) {
    c->data<float>()[i] = a.data<float>()[i] + b.data<float>()[i];
  }
  g_world->log.Add("add " + Tag(ctx));
  return absl::OkStatus();
}
// Relu: Y = max(X, 0).
inline absl::Status Relu(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  Tensor* y = ctx.Output(0, DataType::kF32, x.shape());
  for (int64_t i = 0; i < x.numel(); ++i) y->data<float>()[i] = std::max(0.f, x.data<float>()[i]);
  return absl::OkStatus();
}
// test.zero_in_place: writes zeros into X's buffer and returns it as Y (declared in place).
inline absl::Status ZeroInPlace(KernelContext& ctx) {
  Tensor x = ctx.input(0);
  for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = 0;
  g_world->log.Add("zero");
  ctx.SetOutput(0, std::move(x));
  return absl::OkStatus();
}
// test.view: Y is X itself (declared an alias).
inline absl::Status View(KernelContext& ctx) {
  ctx.SetOutput(0, ctx.input(0));
  return absl::OkStatus();
}

struct TableOptions {
  bool async = true;             // test.async_* kernels declared async
  bool declare_in_place = true;  // test.zero_in_place declared in place
};

inline KernelTable TestKernels(TableOptions o = {}) {
  KernelTable k;
  const Device cpu = Device::kCpu;
  k.Add("test.async_double", cpu, {DataType::kF32}, &AsyncDouble);
  k.Add("test.async_sum", cpu, {DataType::kF32}, &AsyncSum);
  if (o.async) {
    KernelTraits async;
    async.async = true;
    k.SetTraits("test.async_double", cpu, async);
    k.SetTraits("test.async_sum", cpu, async);
  }
  k.Add("test.mark", cpu, {DataType::kF32}, &Mark);
  k.Add("test.await_events", cpu, {DataType::kF32}, &AwaitEvents);
  k.Add("Add", cpu, {DataType::kF32}, &Add);
  k.Add("Relu", cpu, {DataType::kF32}, &Relu);
  k.Add("test.zero_in_place", cpu, {DataType::kF32}, &ZeroInPlace);
  if (o.declare_in_place) k.SetTraits("test.zero_in_place", cpu, KernelTraits::InPlace({{0, 0}}));
  k.Add("test.view", cpu, {DataType::kF32}, &View);
  k.SetTraits("test.view", cpu, KernelTraits::Aliases({{0, 0}}));
  return k;
}

}  // namespace fleet::testing
