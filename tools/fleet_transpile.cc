// fleet-transpile: turns a model into the job folder a training run reads, by running a
// pipeline of passes over it.
//
//   fleet-transpile model.onnx -o job/ --strategy single --loss softmax_ce --label label
//   fleet-transpile model.onnx -o job/ --strategy-file s.pbtxt --lr 0.01
//   fleet-transpile model.onnx -o job/ --strategy ps --servers 2 --sync-mode async ...
//   fleet-transpile model.onnx -o job/ --pass-plugin libmy_pass.so --passes dce,my-pass
//
// The strategy flags (tools/strategy_cli.h) build a DistributedStrategy that picks the pipeline
// (--passes, when given, replaces it) and that the passes read; every written program records it
// (ProgramMeta::strategy and extra["strategy"]). The input becomes the job's main program; the
// passes may add programs (the startup pass adds "startup"). The job is written as a folder
// (ir/job_file.h): one binary NAME.program file per program, then manifest.pbtxt. It prints one
// line per program written and one for the manifest. Any error is one line on standard error and
// a non-zero exit.
#include <filesystem>
#include <iostream>
#include <map>
#include <optional>
#include <string>

#include "CLI/CLI.hpp"
#include "ir/job_file.h"
#include "passes/strategy.h"
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
  CLI::App app{"fleet-transpile: run a pipeline of passes over a model and write the job folder"};
  std::string input, out_dir;
  fleet::PassCliOptions options;
  fleet::StrategyCliOptions strategy_options;
  app.add_option("model", input,
                 "an .onnx model, a Fleet program or job file (binary or text), or a job folder");
  app.add_option("-o,--out-dir", out_dir, "the job folder to write (created when missing)");
  fleet::AddPassFlags(app, options);
  fleet::AddStrategyFlags(app, strategy_options);
  app.footer(
      "The model becomes the job's main program; the passes rewrite it and may add programs.\n"
      "Writes the job folder OUT_DIR:\n"
      "  OUT_DIR/manifest.pbtxt   which file holds which program (protobuf text, written last)\n"
      "  OUT_DIR/main.program     the main program, run every step (binary)\n"
      "  OUT_DIR/startup.program  run once before it: the optimizer state's initial values\n"
      "                           (added by the startup pass)\n"
      "  OUT_DIR/NAME.program     any other program a pass adds (e.g. pserver.0)\n"
      "Program files of an earlier job in OUT_DIR are replaced or removed. fleet-run OUT_DIR\n"
      "trains it; fleet-inspect OUT_DIR prints it. --print-after output goes to standard output;\n"
      "--time-passes and --debug-pass to standard error.\n"
      "A strategy (--strategy or --strategy-file) picks the pipeline: single runs\n"
      "'loss,autodiff,optimizer,startup'; collective, localsgd and ps add allreduce, localsgd\n"
      "or ps-split (which writes pserver.N and pserver.N.startup for each of --servers N);\n"
      "--amp fp16 adds amp after optimizer. --passes replaces it.");
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
  absl::StatusOr<fleet::Job> job = fleet::LoadJob(input);
  if (!job.ok()) return fail(job.status().message());
  std::map<std::string, size_t> ops_before;
  for (const auto& [name, program] : job->programs) ops_before[name] = CountOps(program);
  absl::StatusOr<fleet::PipelineResult> result = fleet::RunPipeline(*pipeline, *job);
  if (!result.ok()) return fail(result.status().message());
  if (strategy->has_value()) fleet::RecordStrategy(**strategy, *job);

  absl::Status written = fleet::WriteJobDir(*job, out_dir);
  if (!written.ok()) return fail(written.message());
  for (const auto& [name, program] : job->programs) {
    auto before = ops_before.find(name);
    std::cout << "fleet-transpile: wrote "
              << (std::filesystem::path(out_dir) / fleet::ProgramFileName(name)).string() << ": "
              << CountOps(program) << " ops"
              << (before == ops_before.end() ? std::string()
                                             : " (was " + std::to_string(before->second) + ")")
              << ", " << CountVars(program) << " vars\n";
  }
  std::cout << "fleet-transpile: wrote "
            << (std::filesystem::path(out_dir) / fleet::kJobManifestFile).string() << ": "
            << job->programs.size() << " program(s); " << result->num_passes << " pass(es) run, "
            << result->num_changed << " changed the job\n";
  return 0;
}
