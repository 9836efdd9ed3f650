// Executor::wait_stats(): the time the executor's thread spends blocked on ops in flight, with
// the test's async kernels (tests/executor/async_test_kernels.h) whose work takes a set time.
// Nothing here asserts speed: when an independent op outlasts the work, the wait finds the event
// done (the op itself waited for it); when nothing can overlap, the wait lasts about as long as
// the work. The bounds are wide, and an upper bound is always the run's own wall time.
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "executor/executor.h"
#include "gtest/gtest.h"
#include "ir/text_format.h"
#include "kernels/cpu/register.h"
#include "tests/executor/async_test_kernels.h"

namespace fleet {
namespace {

using namespace std::chrono_literals;
using testing::g_world;
using testing::Gate;
using testing::TestKernels;
using testing::World;

constexpr auto kWork = 300ms;  // how long each async op's work takes

Program Parse(const std::string& text) {
  absl::StatusOr<Program> p = ParseProgramText(text, "test.txt");
  EXPECT_TRUE(p.ok()) << p.status();
  return p.ok() ? *std::move(p) : Program();
}

class WaitStatsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    world_ = std::make_unique<World>();
    world_->gate = Gate::kAfterDelay;
    world_->delay = kWork;
    g_world = world_.get();
  }
  void TearDown() override {
    world_.reset();  // joins the workers
    g_world = nullptr;
  }

  // Runs `program` once on x = [1, 2, 3]; returns the run's wall time.
  std::chrono::nanoseconds RunOnce(Executor& exec) {
    Scope scope;
    Tensor x(DataType::kF32, {3});
    for (int i = 0; i < 3; ++i) x.data<float>()[i] = static_cast<float>(i + 1);
    scope.Set("x", x);
    const auto start = Clock::now();
    absl::Status s = exec.Run(scope);
    const auto wall = Clock::now() - start;
    EXPECT_TRUE(s.ok()) << s;
    return wall;
  }

 private:
  std::unique_ptr<World> world_;
};

// a = 2x is read at once: nothing runs while it is in flight.
constexpr char kNothingOverlaps[] = R"(
fleet.program v1 opset=17
block 0 {
  var %x : f32[3] feed
  var %a : f32[3]
  var %y : f32[3] fetch
  (Y: %a) = test.async_double(X: %x) {tag = "a"}
  (C: %y) = Add(A: %a, B: %x) {tag = "y"}
}
)";

TEST_F(WaitStatsTest, WhenNothingOverlapsTheWaitLastsAsLongAsTheWork) {
  Program p = Parse(kNothingOverlaps);
  KernelTable k = TestKernels();
  auto exec = Executor::Create(p, k);
  ASSERT_TRUE(exec.ok()) << exec.status();
  EXPECT_EQ((*exec)->wait_stats().runs, 0);
  const std::chrono::nanoseconds wall = RunOnce(**exec);
  const WaitStats stats = (*exec)->wait_stats();
  EXPECT_EQ(stats.runs, 1);
  EXPECT_EQ(stats.waits, 1);
  EXPECT_GE(stats.waited, kWork / 2);  // the wait starts right after the kernel returns
  EXPECT_LE(stats.waited, wall);
}

// m waits until a's work is done, so by the time y reads a there is nothing left to wait for.
constexpr char kAllOverlaps[] = R"(
fleet.program v1 opset=17
block 0 {
  var %x : f32[3] feed
  var %a : f32[3]
  var %m : f32[3]
  var %y : f32[3] fetch
  (Y: %a) = test.async_double(X: %x) {tag = "a"}
  (Y: %m) = test.await_events(X: %x)
  (C: %y) = Add(A: %a, B: %m) {tag = "y"}
}
)";

TEST_F(WaitStatsTest, WhenAnIndependentOpOutlastsTheWorkNothingIsWaitedFor) {
  Program p = Parse(kAllOverlaps);
  KernelTable k = TestKernels();
  auto exec = Executor::Create(p, k);
  ASSERT_TRUE(exec.ok()) << exec.status();
  const std::chrono::nanoseconds wall = RunOnce(**exec);
  const WaitStats stats = (*exec)->wait_stats();
  EXPECT_GE(wall, kWork);  // the run did include the work
  EXPECT_EQ(stats.waits, 1);
  EXPECT_LT(stats.waited, kWork / 3);  // a wait on a finished event takes microseconds
}

TEST_F(WaitStatsTest, RunsAndWaitsAddUpOverRuns) {
  Program p = Parse(kNothingOverlaps);
  KernelTable k = TestKernels();
  auto exec = Executor::Create(p, k);
  ASSERT_TRUE(exec.ok()) << exec.status();
  std::chrono::nanoseconds wall{0};
  for (int run = 0; run < 3; ++run) wall += RunOnce(**exec);
  const WaitStats stats = (*exec)->wait_stats();
  EXPECT_EQ(stats.runs, 3);
  EXPECT_EQ(stats.waits, 3);
  EXPECT_GE(stats.waited, 3 * kWork / 2);
  EXPECT_LE(stats.waited, wall);
}

// The waits of a sub-block (LocalSGD's every-k-steps averaging runs in one) count as the
// parent's: the block's persistable output is waited for at the end of the block's run.
constexpr char kWaitInSubBlock[] = R"(
fleet.program v1 opset=17
block 0 {
  var %x : f32[3] feed
  var %c : bool[] feed
  var %w : f32[3] persistable
  (Out: %w) = fleet.conditional_block(Cond: %c) {sub_block = ^1}
}
block 1 parent 0 {
  (Y: %w) = test.async_double(X: %x) {tag = "w"}
}
)";

TEST_F(WaitStatsTest, WaitsInASubBlockCountAsTheParents) {
  Program p = Parse(kWaitInSubBlock);
  KernelTable k = TestKernels();
  KernelTable cpu;
  RegisterCpuKernels(cpu);
  absl::StatusOr<KernelFn> conditional =
      cpu.Find("fleet.conditional_block", Device::kCpu, DataType::kBool);
  ASSERT_TRUE(conditional.ok()) << conditional.status();
  k.AddAnyType("fleet.conditional_block", Device::kCpu, *conditional);
  auto exec = Executor::Create(p, k);
  ASSERT_TRUE(exec.ok()) << exec.status();
  Scope scope;
  Tensor x(DataType::kF32, {3});
  for (int i = 0; i < 3; ++i) x.data<float>()[i] = static_cast<float>(i);
  scope.Set("x", x);
  scope.Set("w", Tensor(DataType::kF32, {3}));
  scope.Set("c", Tensor::Scalar<uint8_t>(DataType::kBool, 1));
  const auto start = Clock::now();
  ASSERT_TRUE((*exec)->Run(scope).ok());
  const auto wall = Clock::now() - start;
  const WaitStats stats = (*exec)->wait_stats();
  EXPECT_EQ(stats.runs, 1);  // the block's run is part of the parent's
  EXPECT_EQ(stats.waits, 1);
  EXPECT_GE(stats.waited, kWork / 2);
  EXPECT_LE(stats.waited, wall);
}

}  // namespace
}  // namespace fleet
