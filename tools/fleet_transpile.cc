// fleet-transpile: turns a model into the program files a job runs, by running a pipeline of
// passes over it.
//
//   fleet-transpile model.onnx -o job/ --strategy single --loss softmax_ce --label label
//   fleet-transpile model.onnx -o job/ --strategy-file s.pbtxt --lr 0.01
//   fleet-transpile model.onnx -o job/ --pass-plugin libmy_pass.so --passes dce,my-pass
//
// The strategy flags (tools/strategy_cli.h) build a DistributedStrategy that picks the pipeline
// (--passes, when given, replaces it) and that the passes read; the written program records it
// (ProgramMeta::strategy and extra["strategy"]). Writes job/main.program (binary,
// ir/serialize.h) and prints one summary line. When the pipeline runs the optimizer pass, it
// also writes job/startup.program, which initialises the optimizer state
// (passes/training/startup.h), and a second line for it. Any error is one line on standard
// error and a non-zero exit.
#include <filesystem>
#include <iostream>
#include <optional>
#include <string>
#include <system_error>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "ir/serialize.h"
#include "passes/strategy.h"
#include "passes/training/startup.h"
#include "tools/pass_cli.h"
#include "tools/program_loader.h"
#include "tools/strategy_cli.h"
#include "tools/version.h"

namespace {

size_t CountOps(const fleet::Program& p) {
  size_t n = 0;
  for (const fleet::Block& b : p.blocks) n += b.ops.size();
  return n;
}

size_t CountVars(const fleet::Program& p) {
  size_t n = 0;
  for (const fleet::Block& b : p.blocks) n += b.vars().size();
  return n;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "fleet-transpile: run a pipeline of passes over a model and write the program files"};
  std::string input, out_dir;
  fleet::PassCliOptions options;
  fleet::StrategyCliOptions strategy_options;
  app.add_option("model", input, "an .onnx model or a Fleet program file (binary or text)");
  app.add_option("-o,--out-dir", out_dir,
                 "output directory; main.program (and startup.program) are written there");
  fleet::AddPassFlags(app, options);
  fleet::AddStrategyFlags(app, strategy_options);
  app.footer(
      "Writes OUT_DIR/main.program, and OUT_DIR/startup.program (the optimizer state's initial "
      "values) when the pipeline runs the optimizer pass. --print-after output goes to standard "
      "output; --time-passes and --debug-pass to standard error.\n"
      "A strategy (--strategy or --strategy-file) picks the pipeline: single runs "
      "'loss,autodiff,optimizer'; --passes replaces it.");
  app.set_version_flag("--version", [] { return fleet::VersionText("fleet-transpile"); });
  CLI11_PARSE(app, argc, argv);

  auto fail = [](const auto& message) {
    std::cerr << "fleet-transpile: error: " << message << "\n";
    return 1;
  };
  absl::StatusOr<fleet::PassRegistry> registry = fleet::BuildPassRegistry(options);
  if (!registry.ok()) return fail(registry.status().message());
  if (options.list_passes) {
    std::cout << fleet::ListPasses(*registry);
    return 0;
  }
  if (input.empty()) return fail("no model given (usage: fleet-transpile MODEL -o DIR)");
  if (out_dir.empty()) return fail("no output directory given (-o DIR)");

  absl::StatusOr<std::optional<fleet::proto::DistributedStrategy>> strategy =
      fleet::BuildStrategy(strategy_options);
  if (!strategy.ok()) return fail(strategy.status().message());
  if (strategy->has_value() && options.passes.empty()) {
    absl::StatusOr<std::string> passes = fleet::StrategyPipeline(**strategy);
    if (!passes.ok()) return fail(passes.status().message());
    options.passes = *passes;
  }
  absl::StatusOr<fleet::Pipeline> pipeline =
      fleet::BuildPipeline(*registry, options, std::cout, std::cerr);
  if (!pipeline.ok()) return fail(pipeline.status().message());
  if (strategy->has_value()) pipeline->context.set_strategy(**strategy);
  absl::StatusOr<fleet::Program> program = fleet::LoadProgram(input);
  if (!program.ok()) return fail(program.status().message());
  size_t ops_before = CountOps(*program);
  absl::StatusOr<fleet::PipelineResult> result = fleet::RunPipeline(*pipeline, *program);
  if (!result.ok()) return fail(result.status().message());
  if (strategy->has_value()) fleet::RecordStrategy(**strategy, *program);

  std::error_code ec;
  std::filesystem::create_directories(out_dir, ec);
  if (ec) return fail(absl::StrCat(out_dir, ": cannot create directory: ", ec.message()));
  std::string path = (std::filesystem::path(out_dir) / "main.program").string();
  absl::Status written = fleet::WriteProgramFile(*program, path);
  if (!written.ok()) return fail(written.message());
  std::cout << "fleet-transpile: wrote " << path << ": " << CountOps(*program) << " ops (was "
            << ops_before << "), " << CountVars(*program) << " vars; " << result->num_passes
            << " pass(es) run, " << result->num_changed << " changed the program\n";
  bool has_optimizer = false;
  for (absl::string_view pass : absl::StrSplit(options.passes, ',')) {
    has_optimizer = has_optimizer || absl::StripAsciiWhitespace(pass) == "optimizer";
  }
  if (!has_optimizer) return 0;
  absl::StatusOr<fleet::Program> startup = fleet::BuildStartupProgram(*program);
  if (!startup.ok()) return fail(startup.status().message());
  std::string startup_path = (std::filesystem::path(out_dir) / "startup.program").string();
  written = fleet::WriteProgramFile(*startup, startup_path);
  if (!written.ok()) return fail(written.message());
  std::cout << "fleet-transpile: wrote " << startup_path << ": " << CountOps(*startup) << " ops\n";
  return 0;
}
