// fleet-opt: runs passes over a job (or one program) and prints the result in text form, every
// program under its `# program "NAME"` header (ir/job_text.h). The driver of the golden pass
// tests (tests/passes/*.txt), in the manner of mlir-opt.
//
//   fleet-opt prog.txt --passes dce                  result on standard output
//   fleet-opt prog.txt --passes a,b --print-after a  also the job after a (standard error)
//   fleet-opt prog.txt --pass-plugin lib.so --passes my-pass --debug-pass my-pass
//   fleet-opt cases.txt --split-input-file --passes dce
//   fleet-opt prog.txt --passes loss --loss mse --label y   strategy flags as fleet-transpile's
//   fleet-opt job/ --passes dce                      a job folder: every program
//
// The input is a job: a job folder, a job text with several `# program "NAME"` sections, or a
// plain program (text, binary or .onnx), which becomes the job's "main" program.
// --split-input-file treats the input as texts separated by lines `# -----` and runs the
// pipeline on each; results are printed in order, separated by the same line. A case that
// fails prints its error (with line numbers of the whole file) and the others still run; the
// exit status is then 1.
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/ascii.h"
#include "absl/strings/str_split.h"
#include "ir/job_text.h"
#include "passes/strategy.h"
#include "tools/pass_cli.h"
#include "tools/program_loader.h"
#include "tools/strategy_cli.h"
#include "tools/version.h"

namespace {

constexpr char kSplitMarker[] = "# -----";

struct Chunk {
  std::string text;  // padded with blank lines so that line numbers match the whole file
};

std::vector<Chunk> SplitInput(const std::string& text) {
  std::vector<Chunk> chunks(1);
  int line_no = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_no;
    if (absl::StripAsciiWhitespace(line) == kSplitMarker) {
      chunks.push_back({std::string(static_cast<size_t>(line_no), '\n')});
      continue;
    }
    chunks.back().text.append(line.data(), line.size());
    chunks.back().text += '\n';
  }
  return chunks;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"fleet-opt: run Fleet passes over a program and print it in text form"};
  std::string path, output;
  bool split = false;
  fleet::PassCliOptions options;
  fleet::StrategyCliOptions strategy_options;
  app.add_option("file", path,
                 "a Fleet job or program (text or binary), a job folder, or an .onnx model");
  app.add_option("-o,--out-file", output, "write the result here instead of standard output");
  app.add_flag("--split-input-file", split,
               "the input holds several text jobs or programs separated by '# -----' lines");
  fleet::AddPassFlags(app, options);
  fleet::AddStrategyFlags(app, strategy_options);
  app.footer(
      "Prints every program of the job, in name order, each under a line # program \"NAME\" "
      "(main, startup, ...). A text input may hold several programs under such lines; a plain "
      "program is the job's main program. --print-after, --time-passes and --debug-pass write "
      "to standard error. With a strategy (--strategy, --strategy-file, --loss, ...) and no "
      "--passes, the strategy's pipeline runs; the printed programs record the strategy.");
  app.set_version_flag("--version", [] { return fleet::VersionText("fleet-opt"); });
  CLI11_PARSE(app, argc, argv);

  auto error = [](const auto& message) {
    std::cerr << "fleet-opt: error: " << message << "\n";
    return 1;
  };
  absl::StatusOr<fleet::PassRegistry> registry = fleet::BuildPassRegistry(options);
  if (!registry.ok()) return error(registry.status().message());
  if (options.list_passes) {
    std::cout << fleet::ListPasses(*registry);
    return 0;
  }
  if (path.empty()) return error("no input file (usage: fleet-opt FILE --passes a,b,c)");
  absl::StatusOr<std::optional<fleet::proto::DistributedStrategy>> strategy =
      fleet::BuildStrategy(strategy_options);
  if (!strategy.ok()) return error(strategy.status().message());
  if (strategy->has_value() && options.passes.empty()) {
    absl::StatusOr<std::string> passes = fleet::StrategyPipeline(**strategy);
    if (!passes.ok()) return error(passes.status().message());
    options.passes = *passes;
  }
  absl::StatusOr<fleet::Pipeline> pipeline =
      fleet::BuildPipeline(*registry, options, std::cerr, std::cerr);
  if (!pipeline.ok()) return error(pipeline.status().message());
  if (strategy->has_value()) pipeline->context.set_strategy(**strategy);

  std::vector<absl::StatusOr<fleet::Job>> jobs;
  if (split) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return error(path + ": cannot open file");
    std::stringstream buffer;
    buffer << in.rdbuf();
    for (const Chunk& chunk : SplitInput(buffer.str())) {
      jobs.push_back(fleet::ParseJobText(chunk.text, path));
    }
  } else {
    jobs.push_back(fleet::LoadJob(path));
  }

  int rc = 0;
  std::string text;
  for (size_t i = 0; i < jobs.size(); ++i) {
    if (i > 0) text += std::string(kSplitMarker) + "\n";
    absl::StatusOr<fleet::Job>& job = jobs[i];
    if (!job.ok()) {
      rc = error(job.status().message());
      continue;
    }
    absl::StatusOr<fleet::PipelineResult> result = fleet::RunPipeline(*pipeline, *job);
    if (!result.ok()) {
      rc = error(result.status().message());
      continue;
    }
    if (strategy->has_value()) fleet::RecordStrategy(**strategy, *job);
    text += fleet::PrintJob(*job);
  }
  if (output.empty()) {
    std::cout << text;
    return rc;
  }
  std::ofstream out(output);
  out << text;
  out.close();
  if (!out) return error(output + ": cannot write file");
  return rc;
}
