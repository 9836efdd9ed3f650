// Ops in flight: a test-only asynchronous kernel whose work finishes on another thread
// (tests/executor/async_test_kernels.h), and where the executor waits for it (before the first
// reader only, at the end for fetched and persistable outputs, before an in-place write into
// memory it uses), with deadlines and errors.
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
#include "kernels/cpu/groups.h"
#include "tests/executor/async_test_kernels.h"

namespace fleet {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using namespace std::chrono_literals;
using testing::AsyncDouble;
using testing::g_world;
using testing::Gate;
using testing::SyncDouble;
using testing::TableOptions;
using testing::TestEvent;
using testing::TestKernels;
using testing::Timeline;
using testing::World;

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

// An async op in a conditional sub-block writes the outer var %a, which the parent reads after
// the block: the child's run must not return with %a pending (the parent cannot see that it
// is). y = 2x + x.
constexpr char kSubBlockProgram[] = R"(
fleet.program v1 opset=17
block 0 {
  var %x : f32[3] feed
  var %c : bool[1] feed
  var %a : f32[3]
  var %y : f32[3] fetch
  (Y: %a) = Relu(X: %x)
  (Out: %a) = fleet.conditional_block(Cond: %c) {sub_block = ^1}
  (C: %y) = Add(A: %a, B: %x) {tag = "r"}
}
block 1 parent 0 {
  (Y: %a) = test.async_double(X: %x) {tag = "a"} name="allreduce"
}
)";

TEST_F(AsyncExecutorTest, ASubBlockHandsBackItsOuterWritesFinished) {
  world().gate = Gate::kOnWait;  // the worker finishes only if somebody waits for it
  Program p = Parse(kSubBlockProgram);
  KernelTable k = TestKernels();
  cpu::RegisterControlFlowKernels(k);
  auto exec = Executor::Create(p, k);
  ASSERT_TRUE(exec.ok()) << exec.status();
  Scope scope;
  scope.Set("x", Values({1, -2, 3}));
  Tensor cond(DataType::kBool, {1});
  *cond.data<bool>() = true;
  scope.Set("c", cond);
  ASSERT_TRUE((*exec)->Run(scope).ok());
  ASSERT_EQ(world().events.size(), 1u);
  EXPECT_TRUE(world().events[0]->Ready());
  EXPECT_EQ(ToVector(scope.Find("y")), (std::vector<float>{3, -6, 9}));
  Timeline& log = world().log;
  EXPECT_LT(log.IndexOf("done a"), log.IndexOf("add r"));
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
