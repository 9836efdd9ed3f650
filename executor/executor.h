// Executor: prepares one block of a program once, then runs it many times.
//
// Prepare resolves every op's kernel from the table (by op type, the kind of the op's device and
// the dtype of the op's key input), maps var names to dense slots, and plans lifetimes: an
// intermediate value is released right after its last reader. Run reads feeds and persistable
// vars from a Scope, executes the ops in order, and writes back the block's fetch vars and every
// persistable var an op wrote. The executor knows nothing about strategies; communication ops
// are kernels like any other, reaching their transport through the ExecutionEnv.
//
// Ops in flight: an async kernel may return with its outputs pending; the executor waits for
// them only where they are needed (executor/op_waits.h), each wait bounded by
// ExecutorOptions::wait_timeout. docs/executor.md describes the kernel contract.
//
// An op with BlockRef attributes (If, Loop, fleet.conditional_block) gets a child executor per
// referenced block, prepared here once; its kernel runs them through SubBlocks
// (executor/sub_block.h, which also states the scope rules).
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "executor/kernel.h"
#include "executor/scope.h"
#include "executor/thread_pool.h"
#include "executor/wait_stats.h"
#include "ir/program.h"

namespace fleet {

struct ExecutorOptions {
  // The device of ops whose Op::device is empty.
  DeviceId device = Device::kCpu;
  // Devices besides the host's (cpu with CpuAllocator()); one for cpu replaces the host's. An op
  // on a device listed nowhere is an error at Create.
  std::vector<DeviceContext> devices;
  // Runtime objects kernels reach through KernelContext::env() (shared with other executors).
  std::shared_ptr<const ExecutionEnv> env;
  // The longest the executor waits for an op in flight before failing with DEADLINE_EXCEEDED.
  std::chrono::milliseconds wait_timeout = kDefaultWaitTimeout;
  int num_threads = 1;   // intra-op threads (the calling thread included)
  int block = 0;         // which block to run
  bool profile = false;  // time every op (see Executor::Profile)
  // Scan every floating-point output of every op after it runs; a NaN or infinity stops the run
  // with INVALID_ARGUMENT "op 'fc1' (Gemm) produced NaN in output 'h1'". Off: no cost.
  bool check_nan = false;
};

// Time spent in one op type over all runs so far (when ExecutorOptions::profile is set).
struct OpTypeProfile {
  std::string op_type;
  double total_ms = 0;
  int64_t calls = 0;
};

class SubBlocks;
struct SubBlockInterface;

class Executor {
 public:
  // Prepares `program` (which must outlive the executor). Fails when an op has no kernel,
  // naming the op: "model.onnx: node 'fc1' (Foo): no kernel for Foo(f32) on cpu; have ...".
  static absl::StatusOr<std::unique_ptr<Executor>> Create(const Program& program,
                                                          const KernelTable& kernels,
                                                          const ExecutorOptions& options = {});
  ~Executor();

  // Runs the block once. Feed vars must be set in `scope` (or its parents) with the declared
  // dtype and a compatible shape; missing or mismatched feeds are INVALID_ARGUMENT naming the
  // var. Persistable vars without a tensor in scope are initialised from Program::values.
  // One Run at a time per executor (Hogwild gives each thread its own executor).
  // Fetched and persistable outputs are complete when Run returns; an op in flight whose
  // outputs nobody needs may still be, until it runs again or the executor is destroyed.
  absl::Status Run(Scope& scope);

  // Per op type, the time spent so far, largest first; empty unless profiling.
  std::vector<OpTypeProfile> Profile() const;

  // The runs so far and how long they were blocked waiting for ops in flight, the waits in
  // sub-blocks included (executor/wait_stats.h). Any thread, also while Run executes.
  WaitStats wait_stats() const { return wait_counters_->Snapshot(); }

  // The block's feed and fetch var names, in declaration order.
  const std::vector<std::string>& feed_names() const { return feed_names_; }
  const std::vector<std::string>& fetch_names() const { return fetch_names_; }

 private:
  friend class SubBlocks;
  struct PreparedOp;
  Executor();
  absl::Status Prepare(const Program& program, const KernelTable& kernels,
                       const ExecutorOptions& options);
  absl::Status CheckFeed(const Var& var, const Tensor& tensor) const;
  absl::Status RunOp(PreparedOp& op, std::vector<Tensor>& values);
  // AwaitPending on `event`, counting the time blocked in wait_counters_.
  absl::Status Await(std::shared_ptr<Event>& event, const std::string& op_description);
  absl::Status CheckFinite(const PreparedOp& op, const std::vector<Tensor>& values) const;
  // Runs the block on `values`, whose feed and outer slots a child executor has already filled.
  absl::Status RunFrame(Scope& scope, std::vector<Tensor>& values);
  absl::Status RunOps(std::vector<Tensor>& values);
  // Sub-blocks (executor/sub_block.cc): the child executors of `op`, and the parent slots the
  // op reads through them. `slot` maps a var name to this executor's slot, adding one if new.
  absl::StatusOr<std::unique_ptr<SubBlocks>> PrepareSubBlocks(
      const Op& op, const std::string& description, const std::vector<int>& op_outputs,
      const std::vector<bool>& written, absl::FunctionRef<int(const std::string&)> slot);
  absl::Status BindToParent(const Executor& parent, const std::vector<std::string>& op_outputs,
                            const std::string& op_description,
                            absl::FunctionRef<int(const std::string&)> parent_slot);
  absl::Status RunAsChild(absl::Span<const Tensor> feeds, std::vector<Tensor>& values);
  // Makes every async op writing one of `slots` be waited for at the end of a run.
  void WaitAtEndFor(const std::vector<int>& slots);

  const Program* program_ = nullptr;
  const Block* block_ = nullptr;
  const KernelTable* kernels_ = nullptr;
  ExecutorOptions options_;             // as prepared; child executors inherit them
  std::vector<DeviceContext> devices_;  // the host's first
  std::shared_ptr<const ExecutionEnv> env_;
  std::chrono::milliseconds wait_timeout_{kDefaultWaitTimeout};
  bool check_devices_ = false;    // some device's memory is not the host's
  std::vector<int> wait_at_end_;  // async ops whose outputs outlive the run
  std::unique_ptr<ThreadPool> owned_pool_;
  ThreadPool* pool_ = nullptr;           // owned_pool_, or the parent's for a child executor
  std::vector<std::string> slot_names_;  // dense slot -> var name
  std::vector<const Var*> slot_vars_;    // dense slot -> declared var (may be null)
  std::vector<int> input_slots_;         // slots read from the scope at the start of a run
  std::vector<int> output_slots_;        // slots written back to the scope at the end
  std::vector<PreparedOp> ops_;
  std::vector<std::string> feed_names_;
  std::vector<std::string> fetch_names_;
  bool profile_ = false;
  bool check_nan_ = false;
  std::vector<double> op_ms_;  // per prepared op, when profiling
  // Blocked time; a child executor shares its parent's (set before Prepare).
  std::shared_ptr<WaitCounters> wait_counters_;
  int64_t runs_ = 0;
  // Set while Run executes (sub-block kernels read the running frame); null otherwise.
  std::vector<Tensor>* frame_values_ = nullptr;
  Scope* frame_scope_ = nullptr;
  std::unique_ptr<SubBlockInterface> as_child_;  // set when this executor runs a sub-block
};

}  // namespace fleet
