// The startup pass (passes/training/startup.cc): it adds to the job the startup program of the
// main program and of every server program, the same program BuildStartupProgram makes, and
// it needs a job.
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "ir/serialize.h"
#include "passes/pass_manager.h"
#include "passes/training/startup.h"
#include "tests/passes/optimizer_test_util.h"
#include "tests/passes/test_programs.h"

namespace fleet {
namespace {

using ::testing::HasSubstr;
using testing_util::kTwoParams;
using testing_util::ParseOrDie;
using testing_util::RunPasses;
using testing_util::Strategy;

// kTwoParams after the optimizer pass (adam, lr 0.01): reads state that startup fills.
Program Optimized() {
  Program program = ParseOrDie(kTwoParams);
  proto::DistributedStrategy s = Strategy("adam", 0.01);
  absl::StatusOr<bool> ran = RunPasses(program, "optimizer", &s);
  EXPECT_TRUE(ran.ok()) << ran.status();
  return program;
}

absl::StatusOr<bool> RunStartup(Job& job) {
  PassManager pm;
  absl::Status added = pm.AddPipeline("startup", PassRegistry::WithBuiltins());
  if (!added.ok()) return added;
  PassContext ctx;
  return pm.Run(job, ctx);
}

TEST(StartupPassTest, AddsTheStartupProgramOfMain) {
  Job job(Optimized());
  absl::StatusOr<bool> changed = RunStartup(job);
  ASSERT_TRUE(changed.ok()) << changed.status();
  EXPECT_TRUE(*changed);
  ASSERT_EQ(job.programs.size(), 2u);
  const Program* startup = job.Find(kStartupProgram);
  ASSERT_NE(startup, nullptr);
  EXPECT_EQ(startup->meta.role, "startup");
  absl::StatusOr<Program> expected = BuildStartupProgram(job.main());
  ASSERT_TRUE(expected.ok()) << expected.status();
  EXPECT_EQ(SerializeProgram(*startup), SerializeProgram(*expected));
  EXPECT_EQ(startup->main().ops.size(), 10u);  // 4 state vars per parameter, lr, step

  // Running it again replaces the program rather than adding another.
  ASSERT_TRUE(RunStartup(job).ok());
  EXPECT_EQ(job.programs.size(), 2u);
  EXPECT_EQ(SerializeProgram(*job.Find(kStartupProgram)), SerializeProgram(*expected));
}

TEST(StartupPassTest, EveryServerProgramGetsItsOwn) {
  Job job(Optimized());
  job.programs[ServerProgramName(0)] = Optimized();
  job.programs["eval"] = ParseOrDie(kTwoParams);  // neither main nor a server: left alone
  ASSERT_TRUE(RunStartup(job).ok());
  EXPECT_NE(job.Find("startup"), nullptr);
  ASSERT_NE(job.Find("pserver.0.startup"), nullptr);
  EXPECT_EQ(job.Find("pserver.0.startup")->main().ops.size(), 10u);
  EXPECT_EQ(job.Find("eval.startup"), nullptr);
  EXPECT_EQ(job.programs.size(), 5u);
}

TEST(StartupPassTest, AProgramWithoutStateGetsAnEmptyStartup) {
  Job job(ParseOrDie(kTwoParams));
  ASSERT_TRUE(RunStartup(job).ok());
  ASSERT_NE(job.Find(kStartupProgram), nullptr);
  EXPECT_TRUE(job.Find(kStartupProgram)->main().ops.empty());
}

TEST(StartupPassTest, NeedsAJob) {
  Program program = Optimized();
  absl::StatusOr<bool> ran = RunPasses(program, "startup", nullptr);
  EXPECT_EQ(ran.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(ran.status().message()),
              HasSubstr("the pipeline added program(s) \"startup\" to a single program"));
  auto pass = PassRegistry::WithBuiltins().Create("startup");
  ASSERT_TRUE(pass.ok());
  PassContext ctx;
  ran = (*pass)->Run(program, ctx);
  EXPECT_EQ(ran.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(ran.status().message()), HasSubstr("run it over a job"));
}

TEST(StartupPassTest, ErrorsNameTheProgram) {
  Job job(Optimized());
  job.main().main().FindVar("w@moment1")->shape = std::vector<int64_t>{-1, 2};
  absl::StatusOr<bool> ran = RunStartup(job);
  EXPECT_EQ(ran.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(ran.status().message()),
              HasSubstr("pass 'startup' failed: program \"main\": "));
  EXPECT_THAT(std::string(ran.status().message()), HasSubstr("has no static shape"));
}

}  // namespace
}  // namespace fleet
