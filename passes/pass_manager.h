// PassManager: runs a pipeline of passes over a job (all its programs), verifying after each.
//
//   PassManager pm(options);
//   FLEET_RETURN_IF_ERROR(pm.AddPipeline("loss,autodiff,optimizer,startup", registry));
//   PassContext ctx;
//   FLEET_ASSIGN_OR_RETURN(bool changed, pm.Run(job, ctx));
//
// Before the first pass every program of the job is verified (a bad input is not blamed on a
// pass). After every pass every program is verified again; a pass that leaves one invalid fails
// the run with
//   pass 'my-pass' produced an invalid program "main": <verifier message>
//   (reproducer: /tmp/fleet-repro-my-pass-1234-0.txt)
// where the reproducer file holds the failing pass's *input*, the whole job in text form
// (ir/job_text.h), with a `# RUN:` line that replays it with fleet-opt. A pass that returns an
// error is reported the same way, with its own message. Options add printing (every program)
// after passes, per-pass timing and the notes of chosen passes (--print-after,
// --print-after-all, --time-passes, --debug-pass).
#pragma once

#include <memory>
#include <ostream>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "passes/pass.h"
#include "passes/registry.h"

namespace fleet {

struct PassManagerOptions {
  // Verify the input and the program after every pass. Off only for measurements.
  bool verify = true;
  // Print the job (every program, text form) to `print_stream` after the passes named here /
  // after all.
  std::set<std::string> print_after;
  bool print_after_all = false;
  std::ostream* print_stream = nullptr;  // default: std::cerr
  // Print a table of per-pass wall time to `timing_stream` at the end of Run.
  bool time_passes = false;
  std::ostream* timing_stream = nullptr;  // default: std::cerr
  // Print the notes (PassContext::Skip / Note) of these passes ("all": every pass) to
  // `debug_stream` after each runs.
  std::set<std::string> debug_passes;
  std::ostream* debug_stream = nullptr;  // default: std::cerr
  // Where reproducer files go; "" means the system's temporary directory.
  std::string reproducer_dir;
};

// Wall time of one pass in the last Run.
struct PassTiming {
  std::string pass;
  double ms = 0;
  bool changed = false;
};

class PassManager {
 public:
  explicit PassManager(PassManagerOptions options = {});

  void AddPass(std::unique_ptr<Pass> pass);
  // Adds the passes of a pipeline "a,b,c" from `registry`; NOT_FOUND for an unknown name
  // (with a "did you mean" hint), and checks --print-after / --debug-pass names against it.
  absl::Status AddPipeline(std::string_view pipeline, const PassRegistry& registry);
  // The pipeline's pass names, in order.
  std::vector<std::string> PassNames() const;

  // Runs every pass in order over `job`; true when any pass changed it. On error the job is left
  // as the failing pass left it (the reproducer holds its input).
  absl::StatusOr<bool> Run(Job& job, PassContext& ctx);
  // Runs the pipeline over a job whose only program is `program` (as "main"). For pipelines of
  // one-program passes; FAILED_PRECONDITION when a pass adds or removes a program (run those
  // over a Job).
  absl::StatusOr<bool> Run(Program& program, PassContext& ctx);

  // Timings of the last Run (also filled when time_passes is off), and the verifier's time.
  const std::vector<PassTiming>& timings() const { return timings_; }
  double verify_ms() const { return verify_ms_; }
  // The --time-passes table for the last Run.
  std::string TimingReport() const;

 private:
  absl::Status Fail(const Pass& pass, const std::string& input_text, std::string_view what,
                    const absl::Status& status) const;
  // Verifies every program of `job` (and ValidateJob); on error `bad_program` names the program
  // that failed ("" when the job itself is malformed). Adds to verify_ms_.
  absl::Status VerifyJob(const Job& job, std::string* bad_program);

  PassManagerOptions options_;
  std::vector<std::unique_ptr<Pass>> passes_;
  std::vector<PassTiming> timings_;
  double verify_ms_ = 0;
};

// Writes `text` to a new file "fleet-repro-<pass>-<pid>-<n>.txt" in `dir` (or the temporary
// directory when empty); returns its path.
absl::StatusOr<std::string> WriteReproducer(const std::string& dir, std::string_view pass,
                                            const std::string& text);

}  // namespace fleet
