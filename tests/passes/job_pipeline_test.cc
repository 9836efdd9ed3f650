// Passes over jobs: the PassManager verifies every program of the job before the first pass and
// after each, names the program that broke, writes the whole job as the reproducer and prints
// every program; Pass's default entry points run the main program and visit every block.
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "ir/job_text.h"
#include "ir/text_format.h"
#include "passes/pass_manager.h"
#include "tests/passes/test_programs.h"

namespace fleet {
namespace {

using ::testing::HasSubstr;
using testing_util::kMatMulAddProgram;
using testing_util::ParseOrDie;

constexpr char kStartup[] = R"(fleet.program v1 opset=17 role="startup"
block 0 {
  var %w : f32[3,5] persistable
  (Out: %w) = fleet.fill_constant() {dtype = "f32", shape = [3, 5], value = 0.0}
}
)";

// Block 0 reads %x; blocks 1 and 2 (a child of 1) each hold one Relu.
constexpr char kThreeBlocks[] = R"(fleet.program v1 opset=17
block 0 {
  var %x : f32[4] feed
  var %y : f32[4] fetch
  (Y: %y) = Relu(X: %x)
}
block 1 parent 0 {
  var %y1 : f32[4]
  (Y: %y1) = Relu(X: %x)
}
block 2 parent 1 {
  var %y2 : f32[4]
  (Y: %y2) = Relu(X: %y1)
}
)";

Job MainAndStartup() {
  Job job(ParseOrDie(kMatMulAddProgram));
  job.programs[kStartupProgram] = ParseOrDie(kStartup);
  return job;
}

// A job pass that breaks the startup program (its fill writes an undeclared var).
class BreakStartupPass final : public Pass {
 public:
  std::string_view name() const override { return "break-startup"; }
  absl::StatusOr<bool> RunOnJob(Job& job, PassContext&) override {
    job.Find(kStartupProgram)->main().ops[0].outputs[0].vars[0] = "ghost";
    return true;
  }
};

// A job pass that adds a program "eval", a copy of main.
class AddEvalPass final : public Pass {
 public:
  std::string_view name() const override { return "add-eval"; }
  absl::StatusOr<bool> RunOnJob(Job& job, PassContext&) override {
    job.programs["eval"] = job.main();
    return true;
  }
};

// A job pass that drops the main program.
class DropMainPass final : public Pass {
 public:
  std::string_view name() const override { return "drop-main"; }
  absl::StatusOr<bool> RunOnJob(Job& job, PassContext&) override {
    job.programs.erase(kMainProgram);
    return true;
  }
};

// A one-program pass: renames op 0 of the program it is given.
class RenamePass final : public Pass {
 public:
  std::string_view name() const override { return "rename"; }
  absl::StatusOr<bool> Run(Program& program, PassContext&) override {
    program.main().ops[0].name = "renamed";
    return true;
  }
};

// A per-block pass: records the blocks it is called for and renames their ops.
class VisitBlocksPass final : public Pass {
 public:
  explicit VisitBlocksPass(std::vector<int>* visited) : visited_(visited) {}
  std::string_view name() const override { return "visit-blocks"; }
  absl::StatusOr<bool> RunOnBlock(Program& program, int block, PassContext&) override {
    visited_->push_back(block);
    for (Op& op : program.blocks[block].ops) op.name = "seen" + std::to_string(block);
    return block == 2;  // only the last block "changes"
  }

 private:
  std::vector<int>* visited_;
};

// Overrides no entry point.
class NoEntryPass final : public Pass {
 public:
  std::string_view name() const override { return "no-entry"; }
};

std::string ReproducerPath(const std::string& message) {
  std::smatch m;
  std::regex re("reproducer: ([^)]+)\\)");
  return std::regex_search(message, m, re) ? m[1].str() : "";
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(JobPipelineTest, VerifiesEveryProgramAfterEachPassAndNamesIt) {
  PassManagerOptions options;
  options.reproducer_dir = ::testing::TempDir();
  PassManager pm(options);
  pm.AddPass(std::make_unique<BreakStartupPass>());
  Job job = MainAndStartup();
  PassContext ctx;
  absl::Status s = pm.Run(job, ctx).status();
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("pass 'break-startup' produced an invalid program \"startup\": "));
  EXPECT_THAT(std::string(s.message()), HasSubstr("'ghost'"));
  // The reproducer holds the whole input job, both programs, and reads back as a job.
  std::string path = ReproducerPath(std::string(s.message()));
  ASSERT_FALSE(path.empty()) << s.message();
  std::string text = ReadFile(path);
  EXPECT_THAT(text, HasSubstr("# RUN: fleet-opt %s --passes break-startup"));
  absl::StatusOr<Job> input = ParseJobText(text, path);
  ASSERT_TRUE(input.ok()) << input.status();
  ASSERT_EQ(input->programs.size(), 2u);
  EXPECT_EQ(PrintJob(*input), PrintJob(MainAndStartup()));
  std::filesystem::remove(path);
}

TEST(JobPipelineTest, VerifiesEveryProgramBeforeTheFirstPass) {
  PassManager pm;
  pm.AddPass(std::make_unique<RenamePass>());
  Job job = MainAndStartup();
  job.Find(kStartupProgram)->main().ops[0].outputs[0].vars[0] = "ghost";
  PassContext ctx;
  absl::Status s = pm.Run(job, ctx).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("input program \"startup\" is invalid: "));
  EXPECT_THAT(std::string(s.message()), ::testing::Not(HasSubstr("rename")));
  EXPECT_EQ(job.main().main().ops[0].name, "fc1") << "no pass may run on an invalid job";
}

TEST(JobPipelineTest, AJobWithoutMainIsInvalid) {
  PassManagerOptions options;
  options.reproducer_dir = ::testing::TempDir();
  PassManager pm(options);
  pm.AddPass(std::make_unique<DropMainPass>());
  Job job = MainAndStartup();
  PassContext ctx;
  absl::Status s = pm.Run(job, ctx).status();
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("pass 'drop-main' produced an invalid job: job: the job has no program "
                        "\"main\""));
  std::filesystem::remove(ReproducerPath(std::string(s.message())));
}

TEST(JobPipelineTest, OneProgramPassesRunOnMainOnly) {
  PassManager pm;
  pm.AddPass(std::make_unique<RenamePass>());
  Job job = MainAndStartup();
  const std::string startup_before = PrintProgram(*job.Find(kStartupProgram));
  PassContext ctx;
  ASSERT_TRUE(*pm.Run(job, ctx));
  EXPECT_EQ(job.main().main().ops[0].name, "renamed");
  EXPECT_EQ(PrintProgram(*job.Find(kStartupProgram)), startup_before);
}

TEST(JobPipelineTest, PrintAfterPrintsEveryProgram) {
  std::ostringstream printed;
  PassManagerOptions options;
  options.print_after = {"add-eval"};
  options.print_stream = &printed;
  PassManager pm(options);
  pm.AddPass(std::make_unique<AddEvalPass>());
  Job job = MainAndStartup();
  PassContext ctx;
  ASSERT_TRUE(*pm.Run(job, ctx));
  EXPECT_EQ(job.programs.size(), 3u);
  const std::string out = printed.str();
  EXPECT_THAT(out, HasSubstr("# ----- job after add-eval -----\n# program \"eval\"\n"));
  EXPECT_THAT(out, HasSubstr("# program \"main\"\n"));
  EXPECT_THAT(out, HasSubstr("# program \"startup\"\n"));
}

TEST(JobPipelineTest, TheProgramOverloadRefusesPassesThatAddPrograms) {
  PassManager pm;
  pm.AddPass(std::make_unique<AddEvalPass>());
  Program program = ParseOrDie(kMatMulAddProgram);
  PassContext ctx;
  absl::Status s = pm.Run(program, ctx).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("the pipeline added program(s) \"eval\" to a single program"));
  EXPECT_EQ(program.main().ops.size(), 2u) << "the program itself is kept";
}

TEST(JobPipelineTest, PerBlockPassesVisitEverySubBlock) {
  std::vector<int> visited;
  VisitBlocksPass pass(&visited);
  Program program = ParseOrDie(kThreeBlocks);
  PassContext ctx;
  absl::StatusOr<bool> changed = pass.Run(program, ctx);
  ASSERT_TRUE(changed.ok()) << changed.status();
  EXPECT_TRUE(*changed) << "a change in any block is a change";
  EXPECT_THAT(visited, ::testing::ElementsAre(0, 1, 2));
  EXPECT_EQ(program.blocks[2].ops[0].name, "seen2");

  // Through the PassManager over a job: only the main program's blocks.
  visited.clear();
  PassManager pm;
  pm.AddPass(std::make_unique<VisitBlocksPass>(&visited));
  Job job(ParseOrDie(kThreeBlocks));
  job.programs[kStartupProgram] = ParseOrDie(kStartup);
  ASSERT_TRUE(pm.Run(job, ctx).ok());
  EXPECT_THAT(visited, ::testing::ElementsAre(0, 1, 2));
  EXPECT_EQ(job.Find(kStartupProgram)->main().ops[0].name, "");
}

TEST(JobPipelineTest, APassWithNoEntryPointSaysSo) {
  NoEntryPass pass;
  Program program = ParseOrDie(kMatMulAddProgram);
  PassContext ctx;
  absl::Status s = pass.Run(program, ctx).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnimplemented);
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("pass 'no-entry' has no one-program form: it overrides neither Run nor "
                        "RunOnBlock"));
}

}  // namespace
}  // namespace fleet
