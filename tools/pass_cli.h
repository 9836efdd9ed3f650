// The pass flags shared by fleet-transpile and fleet-opt, and the pipeline run behind them:
//   --passes a,b,c  --pass-plugin lib.so...  --pass-option KEY=VALUE...  --list-passes
//   --print-after NAME...  --print-after-all  --time-passes  --debug-pass NAME...
//   --reproducer-dir DIR
#pragma once

#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/status/statusor.h"
#include "ir/job.h"
#include "passes/pass_manager.h"
#include "passes/registry.h"

namespace fleet {

struct PassCliOptions {
  std::string passes;
  std::vector<std::string> plugins;
  std::vector<std::string> pass_options;  // KEY=VALUE
  std::vector<std::string> print_after;
  bool print_after_all = false;
  bool time_passes = false;
  std::vector<std::string> debug_passes;
  std::string reproducer_dir;
  bool list_passes = false;
};

// Adds the flags above to `app`.
void AddPassFlags(CLI::App& app, PassCliOptions& options);

// The built-in passes plus those of every --pass-plugin.
absl::StatusOr<PassRegistry> BuildPassRegistry(const PassCliOptions& options);

// One line per registered pass: "  NAME  DESCRIPTION  [origin]".
std::string ListPasses(const PassRegistry& registry);

// The --passes pipeline, ready to run: built before the model is loaded, so that a misspelt
// pass or option fails fast.
struct Pipeline {
  std::unique_ptr<PassManager> manager;
  PassContext context;  // holds the --pass-option values
};

// Builds the pipeline. --print-after output goes to `print_stream`; timing and --debug-pass
// notes to `diag_stream` (both must outlive the pipeline).
absl::StatusOr<Pipeline> BuildPipeline(const PassRegistry& registry, const PassCliOptions& options,
                                       std::ostream& print_stream, std::ostream& diag_stream);

struct PipelineResult {
  bool changed = false;
  int num_passes = 0;
  int num_changed = 0;
};

// Runs the pipeline over `job` (every program).
absl::StatusOr<PipelineResult> RunPipeline(Pipeline& pipeline, Job& job);

}  // namespace fleet
