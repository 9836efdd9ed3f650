// Pass flags for the tools, and the pipeline run behind them.
#include "tools/pass_cli.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "ir/status_macros.h"

namespace fleet {

void AddPassFlags(CLI::App& app, PassCliOptions& o) {
  app.add_option("--passes", o.passes, "the pipeline: pass names, comma-separated (a,b,c)");
  app.add_option("--pass-plugin", o.plugins,
                 "load passes from this shared library first (repeatable)");
  app.add_option("--pass-option", o.pass_options,
                 "KEY=VALUE option for the passes, e.g. fuse-matmul-add.min-n=4 (repeatable)");
  app.add_option("--print-after", o.print_after,
                 "print every program of the job in text form after this pass (repeatable)");
  app.add_flag("--print-after-all", o.print_after_all,
               "print every program of the job after every pass");
  app.add_flag("--time-passes", o.time_passes, "print a table of per-pass wall time");
  app.add_option("--debug-pass", o.debug_passes,
                 "print the notes of this pass (skipped matches and why); 'all' for every pass "
                 "(repeatable)");
  app.add_option("--reproducer-dir", o.reproducer_dir,
                 "where a failing pass's input is written (default: the temp directory)");
  app.add_flag("--list-passes", o.list_passes, "list the known passes (after loading plugins)");
}

absl::StatusOr<PassRegistry> BuildPassRegistry(const PassCliOptions& options) {
  PassRegistry registry = PassRegistry::WithBuiltins();
  for (const std::string& plugin : options.plugins) {
    FLEET_RETURN_IF_ERROR(registry.LoadPlugin(plugin));
  }
  return registry;
}

std::string ListPasses(const PassRegistry& registry) {
  std::string out;
  for (const PassInfo* p : registry.List()) {
    absl::StrAppend(
        &out, absl::StrFormat(
                  "  %-24s %s%s\n", p->name, p->description,
                  p->origin == "built-in" ? std::string() : absl::StrCat("  [", p->origin, "]")));
  }
  return out;
}

absl::StatusOr<Pipeline> BuildPipeline(const PassRegistry& registry, const PassCliOptions& options,
                                       std::ostream& print_stream, std::ostream& diag_stream) {
  PassManagerOptions pm_options;
  pm_options.print_after.insert(options.print_after.begin(), options.print_after.end());
  pm_options.print_after_all = options.print_after_all;
  pm_options.print_stream = &print_stream;
  pm_options.time_passes = options.time_passes;
  pm_options.timing_stream = &diag_stream;
  pm_options.debug_passes.insert(options.debug_passes.begin(), options.debug_passes.end());
  pm_options.debug_stream = &diag_stream;
  pm_options.reproducer_dir = options.reproducer_dir;
  Pipeline pipeline;
  pipeline.manager = std::make_unique<PassManager>(std::move(pm_options));
  FLEET_RETURN_IF_ERROR(pipeline.manager->AddPipeline(options.passes, registry));
  for (const std::string& kv : options.pass_options) {
    size_t eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("--pass-option '", kv, "': expected KEY=VALUE"));
    }
    pipeline.context.SetOption(kv.substr(0, eq), kv.substr(eq + 1));
  }
  return pipeline;
}

absl::StatusOr<PipelineResult> RunPipeline(Pipeline& pipeline, Job& job) {
  FLEET_ASSIGN_OR_RETURN(bool changed, pipeline.manager->Run(job, pipeline.context));
  PipelineResult result;
  result.changed = changed;
  for (const PassTiming& t : pipeline.manager->timings()) {
    ++result.num_passes;
    result.num_changed += t.changed ? 1 : 0;
  }
  return result;
}

}  // namespace fleet
