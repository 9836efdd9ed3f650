// PassManager: runs a pipeline of passes over a program, verifying after each.
//
//   PassManager pm(options);
//   FLEET_RETURN_IF_ERROR(pm.AddPipeline("dce,fuse-matmul-add", registry));
//   PassContext ctx;
//   FLEET_ASSIGN_OR_RETURN(bool changed, pm.Run(program, ctx));
//
// Before the first pass the input is verified (a bad input is not blamed on a pass). After every
// pass the program is verified again; a pass that leaves it invalid fails the run with
//   pass 'my-pass' produced an invalid program: <verifier message>
//   (reproducer: /tmp/fleet-repro-my-pass-1234-0.txt)
// where the reproducer file holds the failing pass's *input* in text form (ir/text_format.h),
// with a `# RUN:` line that replays it with fleet-opt. A pass that returns an error is reported
// the same way, with its own message. Options add printing after passes, per-pass timing and the
// notes of chosen passes (--print-after, --print-after-all, --time-passes, --debug-pass).
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
  // Print the program (text form) to `print_stream` after the passes named here / after all.
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

  // Runs every pass in order; true when any pass changed the program. On error the program is
  // left as the failing pass left it (the reproducer holds its input).
  absl::StatusOr<bool> Run(Program& program, PassContext& ctx);

  // Timings of the last Run (also filled when time_passes is off), and the verifier's time.
  const std::vector<PassTiming>& timings() const { return timings_; }
  double verify_ms() const { return verify_ms_; }
  // The --time-passes table for the last Run.
  std::string TimingReport() const;

 private:
  absl::Status Fail(const Pass& pass, const std::string& input_text, std::string_view what,
                    const absl::Status& status) const;

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
