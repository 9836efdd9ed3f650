// PassManager: pipeline execution over a job with verification of every program, printing,
// timing and reproducers.
#include "passes/pass_manager.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <system_error>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "ir/job_text.h"
#include "ir/status_macros.h"
#include "ir/verify.h"

namespace fleet {

namespace {

using Clock = std::chrono::steady_clock;

double MsSince(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

std::ostream& Or(std::ostream* stream) { return stream ? *stream : std::cerr; }

// How messages name a program of the job: `program "startup"`.
std::string ProgramLabel(const std::string& name) { return absl::StrCat("program \"", name, "\""); }

}  // namespace

absl::StatusOr<std::string> WriteReproducer(const std::string& dir, std::string_view pass,
                                            const std::string& text) {
  static std::atomic<int> counter{0};
  std::error_code ec;
  std::filesystem::path base =
      dir.empty() ? std::filesystem::temp_directory_path(ec) : std::filesystem::path(dir);
  if (ec) base = ".";
  std::filesystem::path path =
      base / absl::StrCat("fleet-repro-", std::string(pass), "-", getpid(), "-", counter++, ".txt");
  std::ofstream out(path);
  out << text;
  out.close();
  if (!out) {
    return absl::UnavailableError(
        absl::StrCat(path.string(), ": cannot write the reproducer file"));
  }
  return path.string();
}

PassManager::PassManager(PassManagerOptions options) : options_(std::move(options)) {}

void PassManager::AddPass(std::unique_ptr<Pass> pass) { passes_.push_back(std::move(pass)); }

absl::Status PassManager::AddPipeline(std::string_view pipeline, const PassRegistry& registry) {
  FLEET_ASSIGN_OR_RETURN(std::vector<std::string> names, ParsePipeline(pipeline));
  for (const std::string& name : names) {
    FLEET_ASSIGN_OR_RETURN(std::unique_ptr<Pass> pass, registry.Create(name));
    passes_.push_back(std::move(pass));
  }
  // A misspelt --print-after or --debug-pass would otherwise print nothing, silently.
  for (const auto* set : {&options_.print_after, &options_.debug_passes}) {
    for (const std::string& name : *set) {
      if (name == "all" && set == &options_.debug_passes) continue;
      if (registry.Find(name) == nullptr) {
        absl::Status unknown = registry.Create(name).status();
        return absl::InvalidArgumentError(
            absl::StrCat(set == &options_.print_after ? "--print-after: " : "--debug-pass: ",
                         unknown.message()));
      }
    }
  }
  return absl::OkStatus();
}

std::vector<std::string> PassManager::PassNames() const {
  std::vector<std::string> names;
  for (const auto& p : passes_) names.emplace_back(p->name());
  return names;
}

absl::Status PassManager::Fail(const Pass& pass, const std::string& input_text,
                               std::string_view what, const absl::Status& status) const {
  std::string name(pass.name());
  std::string header =
      absl::StrCat("# Reproducer: the input of pass '", name, "', which ", std::string(what),
                   ":\n#   ", status.ToString(), "\n# RUN: fleet-opt %s --passes ", name, "\n");
  absl::StatusOr<std::string> path =
      WriteReproducer(options_.reproducer_dir, name, header + input_text);
  std::string where = path.ok() ? absl::StrCat(" (reproducer: ", *path, ")")
                                : absl::StrCat(" (no reproducer: ", path.status().message(), ")");
  return absl::Status(status.code(), absl::StrCat("pass '", name, "' ", std::string(what), ": ",
                                                  status.message(), where));
}

absl::Status PassManager::VerifyJob(const Job& job, std::string* bad_program) {
  Clock::time_point start = Clock::now();
  bad_program->clear();
  absl::Status valid = ValidateJob(job);
  for (auto it = job.programs.begin(); valid.ok() && it != job.programs.end(); ++it) {
    valid = Verify(it->second);
    if (!valid.ok()) *bad_program = it->first;
  }
  verify_ms_ += MsSince(start);
  return valid;
}

absl::StatusOr<bool> PassManager::Run(Job& job, PassContext& ctx) {
  timings_.clear();
  verify_ms_ = 0;
  if (options_.verify) {
    std::string bad;
    absl::Status input_ok = VerifyJob(job, &bad);
    if (!input_ok.ok()) {
      return absl::Status(input_ok.code(),
                          absl::StrCat("input ", bad.empty() ? "job" : ProgramLabel(bad),
                                       " is invalid: ", input_ok.message()));
    }
  }
  bool any_changed = false;
  for (const auto& pass : passes_) {
    std::string name(pass->name());
    // The input in text form, kept for a reproducer. The text form holds no value bytes, so
    // this stays small even for large models.
    std::string input_text = options_.verify ? PrintJob(job) : std::string();
    size_t notes_before = ctx.diagnostics().size();
    ctx.set_current_pass(name);
    Clock::time_point start = Clock::now();
    absl::StatusOr<bool> changed = pass->RunOnJob(job, ctx);
    double ms = MsSince(start);
    ctx.set_current_pass("");
    timings_.push_back({name, ms, changed.ok() && *changed});
    if (options_.debug_passes.count(name) || options_.debug_passes.count("all")) {
      std::ostream& out = Or(options_.debug_stream);
      const auto& notes = ctx.diagnostics();
      for (size_t i = notes_before; i < notes.size(); ++i) {
        out << "debug: " << notes[i].ToString() << "\n";
      }
      out << "debug: " << name << ": "
          << (changed.ok() ? (*changed ? "changed the program" : "left the program unchanged")
                           : "failed")
          << ", " << (notes.size() - notes_before) << " note(s)\n";
    }
    if (!changed.ok()) {
      if (!options_.verify) input_text = "# (input not kept: verification was off)\n";
      return Fail(*pass, input_text, "failed", changed.status());
    }
    any_changed |= *changed;
    if (options_.verify) {
      std::string bad;
      absl::Status valid = VerifyJob(job, &bad);
      if (!valid.ok()) {
        return Fail(*pass, input_text,
                    bad.empty() ? "produced an invalid job"
                                : absl::StrCat("produced an invalid ", ProgramLabel(bad)),
                    valid);
      }
    }
    if (options_.print_after_all || options_.print_after.count(name)) {
      Or(options_.print_stream) << "# ----- job after " << name << (*changed ? "" : " (unchanged)")
                                << " -----\n"
                                << PrintJob(job);
    }
  }
  if (options_.time_passes) Or(options_.timing_stream) << TimingReport();
  return any_changed;
}

absl::StatusOr<bool> PassManager::Run(Program& program, PassContext& ctx) {
  Job job(std::move(program));
  absl::StatusOr<bool> changed = Run(job, ctx);
  program = std::move(job.main());
  if (changed.ok() && job.programs.size() != 1) {
    std::string added;
    for (const auto& [name, p] : job.programs) {
      if (name != kMainProgram)
        absl::StrAppend(&added, added.empty() ? "" : ", ", "\"", name, "\"");
    }
    return absl::FailedPreconditionError(
        absl::StrCat("the pipeline added program(s) ", added,
                     " to a single program; run it over a job (PassManager::Run(Job&))"));
  }
  return changed;
}

std::string PassManager::TimingReport() const {
  double total = verify_ms_;
  for (const PassTiming& t : timings_) total += t.ms;
  std::string out = absl::StrFormat(
      "===--- pass timing: %d pass(es), %.3f ms wall in all ---===\n  %10s %7s  %-7s  %s\n",
      timings_.size(), total, "ms", "%", "changed", "pass");
  auto pct = [&](double ms) { return total > 0 ? 100.0 * ms / total : 0.0; };
  for (const PassTiming& t : timings_) {
    absl::StrAppend(&out, absl::StrFormat("  %10.3f %6.1f%%  %-7s  %s\n", t.ms, pct(t.ms),
                                          t.changed ? "yes" : "no", t.pass));
  }
  if (options_.verify) {
    absl::StrAppend(&out, absl::StrFormat("  %10.3f %6.1f%%  %-7s  %s\n", verify_ms_,
                                          pct(verify_ms_), "", "(verifier)"));
  }
  absl::StrAppend(&out, absl::StrFormat("  %10.3f %6.1f%%  %-7s  %s\n", total, 100.0, "", "total"));
  return out;
}

}  // namespace fleet
