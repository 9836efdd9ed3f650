// Ops in flight: a test-only asynchronous kernel whose work finishes on another thread, and where
// the executor waits for it (before the first reader only, at the end for fetched and
// persistable outputs, before an in-place write into memory it uses), with deadlines and errors.
//
// Nothing here depends on timing: the worker threads wait for gates (with deadlines) that only
// the events the test expects can open, so a wrong order fails instead of passing by luck.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "executor/executor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "ir/text_format.h"

namespace fleet {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using namespace std::chrono_literals;

// When the async kernel's worker may finish its work.
enum class Gate {
  kAfterMark,  // once test.mark has run (an independent op placed after it)
  kOnWait,     // once somebody waits for the event (so an event nobody waits for stays pending)
  kFail,       // at once, with an error
  kRelease,    // once the test releases it at the end (the executor's wait times out first)
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
World* g_world = nullptr;

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

std::string Tag(const KernelContext& ctx) { return ctx.GetString("tag", "?"); }

absl::Status GateFor(World& w, TestEvent& event) {
  const Clock::time_point deadline = Clock::now() + 5s;
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

void Double(const Tensor& x, Tensor& y) {
  for (int64_t i = 0; i < x.numel(); ++i) y.data<float>()[i] = 2 * x.data<float>()[i];
}

// test.async_double: Y = 2 X, finished on a worker thread.
absl::Status AsyncDouble(KernelContext& ctx) {
  return StartAsync(ctx, ctx.input(0).shape(), Double);
}
// The same, synchronous: the reference run.
absl::Status SyncDouble(KernelContext& ctx) {
  Double(ctx.input(0), *ctx.Output(0, DataType::kF32, ctx.input(0).shape()));
  return absl::OkStatus();
}
// test.async_sum: Y[0] = sum of X, finished on a worker thread.
absl::Status AsyncSum(KernelContext& ctx) {
  return StartAsync(ctx, {1}, [](const Tensor& x, Tensor& y) {
    float sum = 0;
    for (int64_t i = 0; i < x.numel(); ++i) sum += x.data<float>()[i];
    y.data<float>()[0] = sum;
  });
}
// test.mark: Y = X + 1, and opens the gate of kAfterMark workers.
absl::Status Mark(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  Tensor* y = ctx.Output(0, DataType::kF32, x.shape());
  for (int64_t i = 0; i < x.numel(); ++i) y->data<float>()[i] = x.data<float>()[i] + 1;
  g_world->log.Add("mark");
  g_world->mark_ran.Complete();
  return absl::OkStatus();
}
// Add: C = A + B.
absl::Status Add(KernelContext& ctx) {
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
absl::Status Relu(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  Tensor* y = ctx.Output(0, DataType::kF32, x.shape());
  for (int64_t i = 0; i < x.numel(); ++i) y->data<float>()[i] = std::max(0.f, x.data<float>()[i]);
  return absl::OkStatus();
}
// test.zero_in_place: writes zeros into X's buffer and returns it as Y (declared in place).
absl::Status ZeroInPlace(KernelContext& ctx) {
  Tensor x = ctx.input(0);
  for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = 0;
  g_world->log.Add("zero");
  ctx.SetOutput(0, std::move(x));
  return absl::OkStatus();
}
// test.view: Y is X itself (declared an alias).
absl::Status View(KernelContext& ctx) {
  ctx.SetOutput(0, ctx.input(0));
  return absl::OkStatus();
}

struct TableOptions {
  bool async = true;             // test.async_* kernels declared async
  bool declare_in_place = true;  // test.zero_in_place declared in place
};

KernelTable TestKernels(TableOptions o = {}) {
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
  k.Add("Add", cpu, {DataType::kF32}, &Add);
  k.Add("Relu", cpu, {DataType::kF32}, &Relu);
  k.Add("test.zero_in_place", cpu, {DataType::kF32}, &ZeroInPlace);
  if (o.declare_in_place) k.SetTraits("test.zero_in_place", cpu, KernelTraits::InPlace({{0, 0}}));
  k.Add("test.view", cpu, {DataType::kF32}, &View);
  k.SetTraits("test.view", cpu, KernelTraits::Aliases({{0, 0}}));
  return k;
}

Program Parse(const std::string& text) {
  absl::StatusOr<Program> p = ParseProgramText(text, "test.txt");
  EXPECT_TRUE(p.ok()) << p.status();
  return p.ok() ? *std::move(p) : Program();
}

Tensor Values(std::vector<float> v) {
  Tensor t(DataType::kF32, {static_cast<int64_t>(v.size())});
  std::copy(v.begin(), v.end(), t.data<float>());
  return t;
}

std::vector<float> ToVector(const Tensor* t) {
  if (t == nullptr) return {};
  return std::vector<float>(t->data<float>(), t->data<float>() + t->numel());
}

class AsyncExecutorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    world_ = std::make_unique<World>();
    g_world = world_.get();
  }
  void TearDown() override {
    world_.reset();  // joins the workers
    g_world = nullptr;
  }
  World& world() { return *world_; }

 private:
  std::unique_ptr<World> world_;
};

// a = 2x starts; the independent mark runs; r1 = a + m is a's first reader; r2 = a + r1.
// y = 2x + (2x + x + 1) = 5x + 1.
constexpr char kOverlapProgram[] = R"(
fleet.program v1 opset=17
block 0 {
  var %x : f32[3] feed
  var %a : f32[3]
  var %m : f32[3]
  var %r1 : f32[3]
  var %y : f32[3] fetch
  (Y: %a) = test.async_double(X: %x) {tag = "a"} name="allreduce"
  (Y: %m) = test.mark(X: %x)
  (C: %r1) = Add(A: %a, B: %m) {tag = "r1"}
  (C: %y) = Add(A: %a, B: %r1) {tag = "r2"}
}
)";

TEST_F(AsyncExecutorTest, AnIndependentOpRunsWhileTheEventIsPending) {
  // The worker cannot finish before test.mark has run. Had the executor waited for the event
  // before running the mark, the worker's gate would fail after its deadline and Run with it.
  world().gate = Gate::kAfterMark;
  Program p = Parse(kOverlapProgram);
  KernelTable k = TestKernels();
  auto exec = Executor::Create(p, k);
  ASSERT_TRUE(exec.ok()) << exec.status();
  Scope scope;
  scope.Set("x", Values({1, -2, 3}));
  ASSERT_TRUE((*exec)->Run(scope).ok());
  const Timeline& log = world().log;
  EXPECT_LT(log.IndexOf("start a"), log.IndexOf("mark"));
  EXPECT_LT(log.IndexOf("mark"), log.IndexOf("done a"));
  EXPECT_LT(log.IndexOf("done a"), log.IndexOf("add r1"));
  EXPECT_EQ(ToVector(scope.Find("y")), (std::vector<float>{6, -9, 16}));
}

TEST_F(AsyncExecutorTest, OnlyTheFirstReaderWaits) {
  world().gate = Gate::kOnWait;  // the work is done only when the executor asks for it
  Program p = Parse(kOverlapProgram);
  KernelTable k = TestKernels();
  auto exec = Executor::Create(p, k);
  ASSERT_TRUE(exec.ok()) << exec.status();
  Scope scope;
  scope.Set("x", Values({1, -2, 3}));
  ASSERT_TRUE((*exec)->Run(scope).ok());
  EXPECT_THAT(world().log.events(),
              ElementsAre("start a", "mark", "wait a", "done a", "add r1", "add r2"));
  ASSERT_EQ(world().events.size(), 1u);
  EXPECT_EQ(world().events[0]->waits, 1);
  EXPECT_EQ(ToVector(scope.Find("y")), (std::vector<float>{6, -9, 16}));
}

TEST_F(AsyncExecutorTest, ResultsEqualTheSynchronousRun) {
  world().gate = Gate::kAfterMark;
  Program p = Parse(kOverlapProgram);
  KernelTable async_kernels = TestKernels();
  KernelTable sync_kernels = TestKernels();
  sync_kernels.Add("test.async_double", Device::kCpu, {DataType::kF32}, &SyncDouble);
  sync_kernels.SetTraits("test.async_double", Device::kCpu, KernelTraits());
  auto async_exec = Executor::Create(p, async_kernels);
  auto sync_exec = Executor::Create(p, sync_kernels);
  ASSERT_TRUE(async_exec.ok() && sync_exec.ok());
  for (int step = 0; step < 3; ++step) {
    std::vector<float> x = {0.5f * step, -1.25f, 7.f + step};
    Scope async_scope, sync_scope;
    async_scope.Set("x", Values(x));
    sync_scope.Set("x", Values(x));
    ASSERT_TRUE((*async_exec)->Run(async_scope).ok());
    ASSERT_TRUE((*sync_exec)->Run(sync_scope).ok());
    EXPECT_EQ(ToVector(async_scope.Find("y")), ToVector(sync_scope.Find("y")));
    EXPECT_EQ(ToVector(async_scope.Find("y"))[1], 5 * -1.25f + 1);  // y = 5x + 1
  }
  EXPECT_EQ(world().events.size(), 3u);
}

// y fetched, state persistable, u read by nobody; t's only reader is the async op.
constexpr char kOutputsProgram[] = R"(
fleet.program v1 opset=17
block 0 {
  var %x : f32[3] feed
  var %y : f32[3] fetch
  var %t : f32[3]
  var %state : f32[3] persistable
  var %u : f32[3]
  (Y: %y) = test.async_double(X: %x) {tag = "fetched"}
  (Y: %t) = Relu(X: %x)
  (Y: %state) = test.async_double(X: %t) {tag = "persistable"}
  (Y: %u) = test.async_double(X: %x) {tag = "unread"}
}
)";

TEST_F(AsyncExecutorTest, FetchedAndPersistableOutputsAreWaitedForAtTheEnd) {
  world().gate = Gate::kOnWait;  // a worker finishes only if somebody waits for it
  Program p = Parse(kOutputsProgram);
  KernelTable k = TestKernels();
  auto exec = Executor::Create(p, k);
  ASSERT_TRUE(exec.ok()) << exec.status();
  Scope scope;
  scope.Set("x", Values({1, -2, 3}));
  ASSERT_TRUE((*exec)->Run(scope).ok());
  std::vector<std::shared_ptr<TestEvent>> events = world().events;
  ASSERT_EQ(events.size(), 3u);
  EXPECT_TRUE(events[0]->Ready());  // fetched
  EXPECT_TRUE(events[1]->Ready());  // persistable
  EXPECT_EQ(ToVector(scope.Find("y")), (std::vector<float>{2, -4, 6}));
  EXPECT_EQ(ToVector(scope.Find("state")), (std::vector<float>{2, 0, 6}));
  // t's slot was released after its last reader (the async op) returned; the worker's own
  // reference kept the buffer alive and was its only user.
  EXPECT_EQ(world().input_refs_in_worker, 1);
  // Nobody needs u: not waited for, still pending after Run.
  EXPECT_FALSE(events[2]->Ready());
  EXPECT_EQ(events[2]->waits, 0);

  // The next run waits for it before the op runs again; the executor's end waits for the last.
  ASSERT_TRUE((*exec)->Run(scope).ok());
  EXPECT_TRUE(events[2]->Ready());
  ASSERT_EQ(world().events.size(), 6u);
  std::shared_ptr<TestEvent> last_unread = world().events[5];
  EXPECT_FALSE(last_unread->Ready());
  exec->reset();
  EXPECT_TRUE(last_unread->Ready());
}

constexpr char kFetchOneProgram[] = R"(
fleet.program v1 opset=17
block 0 {
  var %x : f32[3] feed
  var %y : f32[3] fetch
  (Y: %y) = test.async_double(X: %x) {tag = "y"} name="send"
}
)";

TEST_F(AsyncExecutorTest, AFailingEventGivesItsErrorNamingTheOp) {
  world().gate = Gate::kFail;
  Program p = Parse(kFetchOneProgram);
  KernelTable k = TestKernels();
  auto exec = Executor::Create(p, k);
  ASSERT_TRUE(exec.ok()) << exec.status();
  Scope scope;
  scope.Set("x", Values({1, 2, 3}));
  absl::Status status = (*exec)->Run(scope);
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(status.message()),
              HasSubstr("op 'send' (test.async_double): link to rank 1 is down"));
  EXPECT_EQ(scope.Find("y"), nullptr);  // nothing written back from a failed step
}

TEST_F(AsyncExecutorTest, ATimedOutEventIsDeadlineExceededNamingTheOp) {
  world().gate = Gate::kRelease;  // released only when the test ends
  Program p = Parse(kFetchOneProgram);
  KernelTable k = TestKernels();
  ExecutorOptions options;
  options.wait_timeout = 50ms;
  auto exec = Executor::Create(p, k, options);
  ASSERT_TRUE(exec.ok()) << exec.status();
  Scope scope;
  scope.Set("x", Values({1, 2, 3}));
  absl::Status status = (*exec)->Run(scope);
  EXPECT_EQ(status.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(std::string(status.message()),
              HasSubstr("op 'send' (test.async_double): outputs not ready after 50 ms "
                        "(ExecutorOptions::wait_timeout)"));
}

// s = sum(w) in flight, then w is zeroed in place; s must be the sum of the old w.
constexpr char kInPlaceProgram[] = R"(
fleet.program v1 opset=17
block 0 {
  var %w : f32[3] persistable
  var %s : f32[1] fetch
  (Y: %s) = test.async_sum(X: %w) {tag = "sum"}
  (Y: %w) = test.zero_in_place(X: %w)
}
)";

// The same through a view: the pending op reads v, an alias of w.
constexpr char kInPlaceViewProgram[] = R"(
fleet.program v1 opset=17
block 0 {
  var %w : f32[3] persistable
  var %v : f32[3]
  var %s : f32[1] fetch
  (Y: %v) = test.view(X: %w)
  (Y: %s) = test.async_sum(X: %v) {tag = "sum"}
  (Y: %w) = test.zero_in_place(X: %w)
}
)";

TEST_F(AsyncExecutorTest, AnInPlaceWriteWaitsForAPendingReader) {
  for (const char* text : {kInPlaceProgram, kInPlaceViewProgram}) {
    World& w = world();
    w.gate = Gate::kOnWait;  // the sum is taken only when somebody waits for it
    w.events.clear();
    Program p = Parse(text);
    KernelTable k = TestKernels();
    auto exec = Executor::Create(p, k);
    ASSERT_TRUE(exec.ok()) << exec.status();
    Scope scope;
    scope.Set("w", Values({1, 2, 3}));
    ASSERT_TRUE((*exec)->Run(scope).ok());
    EXPECT_EQ(ToVector(scope.Find("s")), (std::vector<float>{6})) << text;
    EXPECT_EQ(ToVector(scope.Find("w")), (std::vector<float>{0, 0, 0}));
    EXPECT_LT(w.log.IndexOf("done sum"), w.log.IndexOf("zero"));
  }
}

TEST_F(AsyncExecutorTest, WithoutTheInPlaceDeclarationNothingOrdersTheWrite) {
  // The control for the test above: undeclared, the zeroing runs while the sum is pending and
  // the sum, taken at the end of the run, sees zeros.
  world().gate = Gate::kOnWait;
  Program p = Parse(kInPlaceProgram);
  TableOptions undeclared;
  undeclared.declare_in_place = false;
  KernelTable k = TestKernels(undeclared);
  auto exec = Executor::Create(p, k);
  ASSERT_TRUE(exec.ok()) << exec.status();
  Scope scope;
  scope.Set("w", Values({1, 2, 3}));
  ASSERT_TRUE((*exec)->Run(scope).ok());
  EXPECT_EQ(ToVector(scope.Find("s")), (std::vector<float>{0}));
}

TEST_F(AsyncExecutorTest, AKernelNotDeclaredAsyncIsWaitedForAtOnce) {
  world().gate = Gate::kOnWait;
  Program p = Parse(kOverlapProgram);
  TableOptions sync;
  sync.async = false;
  KernelTable k = TestKernels(sync);
  auto exec = Executor::Create(p, k);
  ASSERT_TRUE(exec.ok()) << exec.status();
  Scope scope;
  scope.Set("x", Values({1, -2, 3}));
  ASSERT_TRUE((*exec)->Run(scope).ok());
  EXPECT_THAT(world().log.events(),
              ElementsAre("start a", "wait a", "done a", "mark", "add r1", "add r2"));
  EXPECT_EQ(ToVector(scope.Find("y")), (std::vector<float>{6, -9, 16}));
}

TEST_F(AsyncExecutorTest, OutsideAnExecutorSetOutputsPendingWaits) {
  world().gate = Gate::kFail;
  AttrMap attrs;
  Tensor x = Values({1, 2});
  std::vector<Tensor> outputs(1);
  KernelContext ctx("op 'k' (test.async_double)", &attrs, {&x}, &outputs, nullptr);
  absl::Status status = AsyncDouble(ctx);
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(status.message()),
              HasSubstr("op 'k' (test.async_double): link to rank 1 is down"));

  world().gate = Gate::kOnWait;
  ASSERT_TRUE(AsyncDouble(ctx).ok());
  EXPECT_EQ(ToVector(&outputs[0]), (std::vector<float>{2, 4}));
}

}  // namespace
}  // namespace fleet
