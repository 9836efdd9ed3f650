// The worker kernels refuse schedule attributes that make no sense, naming the op and the
// attribute, before they reach for a server: a hand-written program with pull_every = 0 or a
// negative warm-up used to be taken as 1 and 0 without a word.
#include <string>

#include "executor/executor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "ir/text_format.h"
#include "runtime/ps/register.h"

namespace fleet {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// Runs a program of one op (its text given) on an environment with no parameter-server client.
absl::Status RunOp(const std::string& op) {
  absl::StatusOr<Program> program = ParseProgramText(
      "fleet.program v1 opset=17\nblock 0 {\n  var %s : i64[] feed\n  var %w : f32[2] fetch\n  " +
          op + "\n}\n",
      "worker.txt");
  if (!program.ok()) return program.status();
  KernelTable kernels;
  RegisterParameterServerKernels(kernels);
  absl::StatusOr<std::unique_ptr<Executor>> executor = Executor::Create(*program, kernels);
  if (!executor.ok()) return executor.status();
  Scope scope;
  Tensor step(DataType::kI64, {});
  *step.data<int64_t>() = 0;
  scope.Set("s", step);
  return (*executor)->Run(scope);
}

TEST(WorkerKernelAttrsTest, APullIntervalBelowOneIsRefused) {
  absl::Status s = RunOp(
      R"((Out: %w) = fleet.ps_pull_dense(Step: %s) {mode = "async", pull_every = 0} name="pull")");
  EXPECT_TRUE(absl::IsInvalidArgument(s)) << s;
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("op 'pull' (fleet.ps_pull_dense): attribute pull_every=0; expected >= 1"));
}

TEST(WorkerKernelAttrsTest, ANegativePullWarmupIsRefused) {
  absl::Status s = RunOp(
      R"((Out: %w) = fleet.ps_pull_dense(Step: %s) {mode = "async", pull_every = 4, pull_warmup = -2} name="pull")");
  EXPECT_TRUE(absl::IsInvalidArgument(s)) << s;
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("attribute pull_warmup=-2; expected >= 0 (0: no warm-up)"));
}

TEST(WorkerKernelAttrsTest, GeoKStepsBelowOneAreRefused) {
  absl::Status s = RunOp(R"((Out: %w) = fleet.ps_geo_sync(Step: %s) {k_steps = 0} name="geo")");
  EXPECT_TRUE(absl::IsInvalidArgument(s)) << s;
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("op 'geo' (fleet.ps_geo_sync): k_steps 0; expected >= 1"));
}

// With sensible attributes the same op gets as far as looking for its client.
TEST(WorkerKernelAttrsTest, SensibleAttributesReachTheClientLookup) {
  absl::Status s = RunOp(
      R"((Out: %w) = fleet.ps_pull_dense(Step: %s) {mode = "async", pull_every = 4, pull_warmup = 0} name="pull")");
  EXPECT_TRUE(absl::IsFailedPrecondition(s)) << s;
  EXPECT_THAT(std::string(s.message()), Not(HasSubstr("attribute")));
}

}  // namespace
}  // namespace fleet
