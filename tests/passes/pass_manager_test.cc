// Tests of the PassManager (verification of every program of a job before and after each pass,
// reproducers, printing, timing, debug notes), of the Pass entry points (job, program, block),
// and of PassContext's options.
#include "passes/pass_manager.h"

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "ir/job_text.h"
#include "ir/text_format.h"
#include "tests/passes/test_programs.h"

namespace fleet {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using testing_util::kMatMulAddProgram;
using testing_util::ParseOrDie;

// Does nothing.
class NopPass final : public Pass {
 public:
  std::string_view name() const override { return "nop"; }
  absl::StatusOr<bool> Run(Program&, PassContext& ctx) override {
    ctx.Note("nothing to do");
    return false;
  }
};

// Renames the Add's input to an undeclared var: the verifier must catch it.
class BreakPass final : public Pass {
 public:
  std::string_view name() const override { return "break-it"; }
  absl::StatusOr<bool> Run(Program& program, PassContext&) override {
    program.main().ops[1].inputs[0].vars[0] = "ghost";
    return true;
  }
};

// Fails outright.
class FailPass final : public Pass {
 public:
  std::string_view name() const override { return "fail-it"; }
  absl::StatusOr<bool> Run(Program&, PassContext&) override {
    return absl::UnimplementedError("cannot handle Add");
  }
};

// Renames the MatMul (a valid change) and leaves a note about the Add.
class RenamePass final : public Pass {
 public:
  std::string_view name() const override { return "rename"; }
  absl::StatusOr<bool> Run(Program& program, PassContext& ctx) override {
    ctx.Skip(program.main().ops[1], "left alone: not a MatMul");
    program.main().ops[0].name = "renamed";
    return true;
  }
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

TEST(PassManagerTest, RunsInOrderAndReportsChange) {
  PassManager pm;
  pm.AddPass(std::make_unique<NopPass>());
  EXPECT_THAT(pm.PassNames(), ::testing::ElementsAre("nop"));
  Program p = ParseOrDie(kMatMulAddProgram);
  PassContext ctx;
  EXPECT_FALSE(*pm.Run(p, ctx));
  pm.AddPass(std::make_unique<RenamePass>());
  EXPECT_TRUE(*pm.Run(p, ctx));
  EXPECT_EQ(p.main().ops[0].name, "renamed");
  ASSERT_EQ(pm.timings().size(), 2u);
  EXPECT_EQ(pm.timings()[0].pass, "nop");
  EXPECT_FALSE(pm.timings()[0].changed);
  EXPECT_TRUE(pm.timings()[1].changed);
  // Notes are filed under the pass that left them.
  ASSERT_EQ(ctx.DiagnosticsOf("rename").size(), 1u);
  EXPECT_EQ(ctx.DiagnosticsOf("rename")[0].ToString(),
            "rename: test.txt:9:3: op (Add): left alone: not a MatMul");
}

TEST(PassManagerTest, BrokenIrNamesThePassAndWritesAReproducer) {
  PassManagerOptions options;
  options.reproducer_dir = ::testing::TempDir();
  PassManager pm(options);
  pm.AddPass(std::make_unique<NopPass>());
  pm.AddPass(std::make_unique<BreakPass>());
  Program p = ParseOrDie(kMatMulAddProgram);
  PassContext ctx;
  absl::Status s = pm.Run(p, ctx).status();
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.message(), HasSubstr("pass 'break-it' produced an invalid program \"main\": "));
  EXPECT_THAT(s.message(), HasSubstr("input 'A' names 'ghost', which is not declared"));
  std::string path = ReproducerPath(std::string(s.message()));
  ASSERT_FALSE(path.empty()) << s.message();
  EXPECT_THAT(path, HasSubstr("fleet-repro-break-it-"));
  EXPECT_EQ(path.rfind(::testing::TempDir(), 0), 0u) << path;
  std::string text = ReadFile(path);
  EXPECT_THAT(text, HasSubstr("# RUN: fleet-opt %s --passes break-it"));
  // The reproducer is the failing pass's input, the whole job: it parses and still has %y.
  absl::StatusOr<Job> input = ParseJobText(text, "repro.txt");
  ASSERT_TRUE(input.ok()) << input.status();
  ASSERT_EQ(input->programs.size(), 1u);
  EXPECT_EQ(PrintProgram(input->main()), PrintProgram(ParseOrDie(kMatMulAddProgram)));
  std::filesystem::remove(path);
}

TEST(PassManagerTest, FailingPassKeepsItsStatusCode) {
  PassManagerOptions options;
  options.reproducer_dir = ::testing::TempDir();
  PassManager pm(options);
  pm.AddPass(std::make_unique<FailPass>());
  Program p = ParseOrDie(kMatMulAddProgram);
  PassContext ctx;
  absl::Status s = pm.Run(p, ctx).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnimplemented);
  EXPECT_THAT(s.message(), HasSubstr("pass 'fail-it' failed: cannot handle Add (reproducer: "));
  std::filesystem::remove(ReproducerPath(std::string(s.message())));
}

TEST(PassManagerTest, InvalidInputIsNotBlamedOnAPass) {
  PassManager pm;
  pm.AddPass(std::make_unique<NopPass>());
  Program p = ParseOrDie(kMatMulAddProgram);
  p.main().ops[0].inputs[0].vars[0] = "ghost";
  PassContext ctx;
  absl::Status s = pm.Run(p, ctx).status();
  EXPECT_THAT(s.message(), HasSubstr("input program \"main\" is invalid: "));
  EXPECT_THAT(s.message(), Not(HasSubstr("nop")));
}

TEST(PassManagerTest, PrintAfterTimingAndDebugNotes) {
  std::ostringstream printed, timing, debug;
  PassManagerOptions options;
  options.print_after = {"rename"};
  options.print_stream = &printed;
  options.time_passes = true;
  options.timing_stream = &timing;
  options.debug_passes = {"rename"};
  options.debug_stream = &debug;
  PassManager pm(options);
  pm.AddPass(std::make_unique<NopPass>());
  pm.AddPass(std::make_unique<RenamePass>());
  Program p = ParseOrDie(kMatMulAddProgram);
  PassContext ctx;
  ASSERT_TRUE(pm.Run(p, ctx).ok());
  EXPECT_THAT(printed.str(),
              HasSubstr("# ----- job after rename -----\n# program \"main\"\nfleet.program v2"));
  EXPECT_THAT(printed.str(), HasSubstr("name=\"renamed\""));
  EXPECT_THAT(printed.str(), Not(HasSubstr("after nop")));
  EXPECT_THAT(timing.str(), HasSubstr("pass timing: 2 pass(es)"));
  EXPECT_THAT(timing.str(), ::testing::ContainsRegex("  yes +rename\n"));
  EXPECT_THAT(timing.str(), ::testing::ContainsRegex("  no +nop\n"));
  EXPECT_THAT(timing.str(), HasSubstr("(verifier)"));
  EXPECT_EQ(debug.str(),
            "debug: rename: test.txt:9:3: op (Add): left alone: not a MatMul\n"
            "debug: rename: changed the program, 1 note(s)\n");

  std::ostringstream all;
  PassManagerOptions all_options;
  all_options.print_after_all = true;
  all_options.print_stream = &all;
  PassManager pm_all(all_options);
  pm_all.AddPass(std::make_unique<NopPass>());
  pm_all.AddPass(std::make_unique<RenamePass>());
  ASSERT_TRUE(pm_all.Run(p, ctx).ok());
  EXPECT_THAT(all.str(), HasSubstr("job after nop (unchanged)"));
  EXPECT_THAT(all.str(), HasSubstr("job after rename -----"));
}

TEST(PassManagerTest, AddPipelineChecksNames) {
  PassRegistry registry = PassRegistry::WithBuiltins();
  PassManager ok;
  EXPECT_TRUE(ok.AddPipeline("dce,dce", registry).ok());
  EXPECT_THAT(ok.PassNames(), ::testing::ElementsAre("dce", "dce"));
  PassManager unknown;
  absl::Status s = unknown.AddPipeline("dce,dec", registry);
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(s.message(), HasSubstr("unknown pass 'dec' (hint: did you mean 'dce'?)"));
  PassManagerOptions options;
  options.print_after = {"dcee"};
  PassManager misspelt(options);
  EXPECT_THAT(misspelt.AddPipeline("dce", registry).message(),
              HasSubstr("--print-after: unknown pass 'dcee'"));
}

TEST(PassContextTest, TypedOptions) {
  PassContext ctx;
  ctx.SetOption("p.n", "42");
  ctx.SetOption("p.x", "0.5");
  ctx.SetOption("p.on", "Yes");
  ctx.SetOption("p.bad", "forty");
  EXPECT_TRUE(ctx.HasOption("p.n"));
  EXPECT_FALSE(ctx.HasOption("p.m"));
  EXPECT_EQ(*ctx.GetInt("p.n", 1), 42);
  EXPECT_EQ(*ctx.GetInt("p.m", 7), 7);
  EXPECT_DOUBLE_EQ(*ctx.GetFloat("p.x", 0), 0.5);
  EXPECT_TRUE(*ctx.GetBool("p.on", false));
  EXPECT_EQ(ctx.GetString("p.bad"), "forty");
  EXPECT_EQ(ctx.GetString("p.none", "dflt"), "dflt");
  absl::Status s = ctx.GetInt("p.bad", 0).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "pass option 'p.bad' is 'forty'; expected an integer");
  EXPECT_FALSE(ctx.GetBool("p.bad", false).ok());
  EXPECT_FALSE(ctx.GetFloat("p.bad", 0).ok());
}

}  // namespace
}  // namespace fleet
