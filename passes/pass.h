// The pass API: a Pass rewrites a Job (its programs) or one Program; a PassContext carries what a
// run of passes shares (options, diagnostics).
//
// A pass is one class with a kebab-case name and one of three entry points, whichever fits the
// rewrite; each returns whether it changed anything:
//   RunOnBlock(program, block, ctx)  a rewrite local to one block (a fusion, a fold). The
//                                    default Run calls it for every block, so such a pass visits
//                                    sub-blocks without asking (ORT's Recurse()).
//   Run(program, ctx)                a rewrite of one whole program (dce; loss, autodiff and the
//                                    optimizer, which work on the main block).
//   RunOnJob(job, ctx)               a rewrite that adds, splits or reads several programs (the
//                                    startup pass, a parameter-server split). The default runs
//                                    Run on the job's main program.
// Passes edit the IR's plain structs directly (ir/program.h, ir/job.h) and must leave every
// program valid: the PassManager runs Verify (ir/verify.h) on every program of the job after
// every pass and reports the pass that broke it. A pass that looks at a candidate and decides
// not to rewrite it says why through PassContext::Skip, never silently: `--debug-pass=NAME`
// shows those notes.
//
// This header, ir/*.h and passes/plugin_api.h are the public headers a plugin compiles against.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "ir/job.h"
#include "ir/program.h"

namespace fleet {

namespace proto {
class DistributedStrategy;  // passes/strategy.proto; include "passes/strategy.pb.h" to read it
}  // namespace proto

// One note a pass left about its work: usually a match it skipped and why.
struct PassDiagnostic {
  std::string pass;     // the pass that reported it
  std::string where;    // op description with its origin (Op::Describe), or "" for the program
  std::string message;  // e.g. "not fused: bias 'b' has shape [1,64]; expected [64]"

  // "fuse-matmul-add: model.onnx: node 'fc1' (MatMul): not fused: ..."
  std::string ToString() const;
};

// State shared by the passes of one pipeline run. Not thread-safe; one pipeline uses it at a
// time. Owned by the caller of PassManager::Run and outlives it.
class PassContext {
 public:
  PassContext() = default;

  // Options: string key/value pairs, by convention "<pass-name>.<option>" (e.g.
  // "fuse-matmul-add.min-n"); set from the command line with --pass-option KEY=VALUE.
  void SetOption(std::string key, std::string value);
  bool HasOption(std::string_view key) const;
  // The option's value, or `default_value` when it is not set. The typed getters return
  // INVALID_ARGUMENT naming the key when the value does not parse as that type.
  std::string GetString(std::string_view key, std::string_view default_value = "") const;
  absl::StatusOr<int64_t> GetInt(std::string_view key, int64_t default_value) const;
  absl::StatusOr<double> GetFloat(std::string_view key, double default_value) const;
  // true/false, 1/0, yes/no, on/off.
  absl::StatusOr<bool> GetBool(std::string_view key, bool default_value) const;
  const std::map<std::string, std::string, std::less<>>& options() const { return options_; }

  // Diagnostics: a note from the running pass about `op` (or the whole program). Notes are
  // kept in order; the PassManager prints those of the passes named by --debug-pass.
  void Skip(const Op& op, std::string message);
  void Note(std::string message);
  const std::vector<PassDiagnostic>& diagnostics() const { return diagnostics_; }
  // Notes of one pass, in order.
  std::vector<PassDiagnostic> DiagnosticsOf(std::string_view pass) const;
  void ClearDiagnostics() { diagnostics_.clear(); }

  // The pass being run, set by the PassManager ("" outside a pipeline); notes are filed
  // under it.
  const std::string& current_pass() const { return current_pass_; }
  void set_current_pass(std::string name) { current_pass_ = std::move(name); }

  // The strategy the pipeline was built from (passes/strategy.proto), or nullptr when the
  // pipeline was given pass by pass without one. Passes that need a field report its absence
  // (e.g. the loss pass: "no loss kind in the strategy").
  const proto::DistributedStrategy* strategy() const { return strategy_.get(); }
  void set_strategy(const proto::DistributedStrategy& strategy);

 private:
  std::map<std::string, std::string, std::less<>> options_;
  std::vector<PassDiagnostic> diagnostics_;
  std::string current_pass_;
  std::shared_ptr<const proto::DistributedStrategy> strategy_;
};

// A rewrite of a job or a program. Subclasses are final classes with a default constructor that
// override one of RunOnBlock, Run and RunOnJob (see the top of this file). A pass object is used
// by one pipeline at a time.
class Pass {
 public:
  virtual ~Pass() = default;
  // Kebab-case name used in pipelines and messages: "dce", "fuse-matmul-add".
  virtual std::string_view name() const = 0;
  // One line for `--list-passes`.
  virtual std::string_view description() const { return ""; }

  // What the PassManager calls. The default runs Run on the job's main program
  // (FAILED_PRECONDITION when the job has none). Override it to add, split or read several
  // programs; a pass that adds a program replaces one of the same name (so running a pipeline
  // twice is harmless).
  virtual absl::StatusOr<bool> RunOnJob(Job& job, PassContext& ctx);

  // Rewrites `program`; true when anything changed. An error status aborts the pipeline; it
  // should say what the pass could not handle (FAILED_PRECONDITION for a wrong pass order,
  // UNIMPLEMENTED for an unsupported construct, INVALID_ARGUMENT for a bad option).
  // The default calls RunOnBlock for block 0 and then every sub-block, in index order (parents
  // before children), and reports whether any call changed its block.
  virtual absl::StatusOr<bool> Run(Program& program, PassContext& ctx);

  // Rewrites block `block` of `program`: its ops, and the vars and values they use. Vars of
  // enclosing blocks are visible there (FindVisibleVar, passes/pattern.h) and may be edited too
  // (fold-batchnorm declares its folded weights in block 0, beside the parameters). The default
  // returns UNIMPLEMENTED: the pass has no per-block form.
  virtual absl::StatusOr<bool> RunOnBlock(Program& program, int block, PassContext& ctx);
};

}  // namespace fleet
