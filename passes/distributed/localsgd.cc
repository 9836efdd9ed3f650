// localsgd: LocalSGD. Every rank trains on its own shard with its own updates, and every k steps
// the ranks average their parameters, so they talk k times less often than with allreduce.
//
// The schedule lives in the program, not in user code. With s the step count after this
// step's update (the optimizer pass's counter, training.step) and b = begin_step:
//   - while s <= b, the gradients are averaged every step before the update (a synchronous warm
//     start), through a conditional sub-block holding the bucketed fleet.allreduce ops;
//   - once s > b, the parameters are averaged when (s - b) is a multiple of k, through a second
//     conditional sub-block at the end of the step:
//
//   (C: %"localsgd@since") = Sub(A: %global_step, B: %"localsgd@begin") role=dist
//   (C: %"localsgd@phase") = Mod(A: %"localsgd@since", B: %"localsgd@k") role=dist
//   ...  %"localsgd@sync" = since > 0 and phase == 0
//   (Out: [%w, %b]) = fleet.conditional_block(Cond: %"localsgd@sync") {sub_block = ^1} role=dist
//   block 1 { (Out: [%w, %b]) = fleet.allreduce(X: [%w, %b]) {reduce = "mean"} role=collective }
//
// Averaging the parameters themselves equals Paddle's averaging of the deltas from a snapshot
// (every rank starts a period from the same values), without the snapshot's memory. With k = 1
// and b = 0 the ranks average their parameters after every update. The startup program
// broadcasts the parameters from rank 0, as the allreduce pass does; like that pass, this one
// makes embedding gradients dense.
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "ir/status_macros.h"
#include "passes/builtin_passes.h"
#include "passes/distributed/buckets.h"
#include "passes/strategy.h"

namespace fleet {
namespace {

using distributed::Bucket;
using distributed::Member;

constexpr double kDefaultBucketMb = 25;

// Builds the schedule's ops in the main block: declares its vars (erroring on a clash) and
// makes ops with role dist. Holds the program, not the block: adding sub-blocks moves blocks.
class ScheduleBuilder {
 public:
  explicit ScheduleBuilder(Program& program) : program_(program) {}

  // Declares `localsgd@<suffix>` of `dtype`[1]; an existing var of that name is an error.
  absl::StatusOr<std::string> Declare(const std::string& suffix, DataType dtype) {
    std::string name = absl::StrCat("localsgd@", suffix);
    Var v;
    v.name = name;
    v.dtype = dtype;
    v.shape = std::vector<int64_t>{1};
    if (!program_.main().AddVar(std::move(v))) {
      return absl::InvalidArgumentError(absl::StrCat(
          "pass 'localsgd': the program already has a var '", name, "'; expected a fresh name"));
    }
    return name;
  }

  Op Constant(const std::string& out, int64_t value) {
    Op op;
    op.type = "fleet.fill_constant";
    op.outputs = {{"Out", {out}}};
    op.attrs["dtype"] = AttrValue(std::string("i64"));
    op.attrs["shape"] = AttrValue(std::vector<int64_t>{1});
    op.attrs["value"] = AttrValue(static_cast<float>(value));
    op.role = kRoleDist;
    return op;
  }

  Op Binary(const std::string& type, const std::string& a, const std::string& b,
            const std::string& c) {
    Op op;
    op.type = type;
    op.inputs = {{"A", {a}}, {"B", {b}}};
    op.outputs = {{"C", {c}}};
    op.role = kRoleDist;
    return op;
  }

 private:
  Program& program_;
};

// A fleet.conditional_block over a new sub-block of block 0 holding one mean allreduce per
// bucket of `members` (their gradients or their parameters).
Op ConditionalAverage(Program& program, const std::string& cond, std::vector<Member> members,
                      int64_t cap, bool grads, const std::string& name) {
  const int sub = program.AddBlock(0);
  std::vector<Bucket> buckets = distributed::MakeBuckets(std::move(members), cap);
  std::vector<std::string> outs;
  for (size_t b = 0; b < buckets.size(); ++b) {
    Op allreduce = distributed::CollectiveOp("fleet.allreduce", absl::StrCat(name, ".bucket", b),
                                             buckets[b], grads);
    allreduce.attrs["reduce"] = AttrValue(std::string("mean"));
    for (const std::string& v : allreduce.outputs[0].vars) outs.push_back(v);
    program.blocks[static_cast<size_t>(sub)].ops.push_back(std::move(allreduce));
  }
  Op op;
  op.type = "fleet.conditional_block";
  op.name = name;
  op.inputs = {{"Cond", {cond}}};
  op.outputs = {{"Out", outs}};
  op.attrs["sub_block"] = AttrValue(BlockRef{sub});
  op.role = kRoleDist;
  return op;
}

class LocalSgdPass final : public Pass {
 public:
  std::string_view name() const override { return "localsgd"; }
  std::string_view description() const override {
    return "averages the parameters over the ranks every k steps (gradients every step before "
           "begin_step) through conditional sub-blocks; broadcasts them from rank 0 at startup "
           "(a job pass, after optimizer and startup)";
  }

  absl::StatusOr<bool> RunOnJob(Job& job, PassContext& ctx) override {
    Program& main = job.main();
    const std::vector<std::string> densified = distributed::DensifyEmbeddingGradients(main);
    if (!densified.empty()) {
      ctx.Note(
          absl::StrCat("dense gradients for the embedding(s) ", absl::StrJoin(densified, ", ")));
    }
    FLEET_ASSIGN_OR_RETURN(std::vector<Member> grads, distributed::FinalGradients(main, name()));
    const std::string step = main.meta.training.step;
    if (step.empty() || main.main().FindVar(step) == nullptr) {
      return absl::FailedPreconditionError(
          "pass 'localsgd' needs the optimizer pass's step counter (training.step); run it "
          "after optimizer");
    }
    proto::LocalSgdConfig config;
    if (ctx.strategy() != nullptr) config = ctx.strategy()->localsgd();
    const int64_t k = config.k_steps() > 0 ? config.k_steps() : 1;
    const int64_t begin = config.begin_step();
    const double bucket_mb = config.bucket_mb() > 0 ? config.bucket_mb() : kDefaultBucketMb;
    const auto cap = static_cast<int64_t>(bucket_mb * distributed::kBytesPerMb);
    FLEET_ASSIGN_OR_RETURN(std::vector<Member> params,
                           distributed::ParametersOf(main.main(), grads));
    const size_t after_backward = [&] {
      size_t last = 0;
      for (const Member& g : grads) last = std::max(last, g.writer);
      return last + 1;
    }();

    ScheduleBuilder s(main);
    FLEET_ASSIGN_OR_RETURN(std::string begin_var, s.Declare("begin", DataType::kI64));
    FLEET_ASSIGN_OR_RETURN(std::string k_var, s.Declare("k", DataType::kI64));
    FLEET_ASSIGN_OR_RETURN(std::string zero, s.Declare("zero", DataType::kI64));
    FLEET_ASSIGN_OR_RETURN(std::string since, s.Declare("since", DataType::kI64));
    FLEET_ASSIGN_OR_RETURN(std::string phase, s.Declare("phase", DataType::kI64));
    FLEET_ASSIGN_OR_RETURN(std::string started, s.Declare("started", DataType::kBool));
    FLEET_ASSIGN_OR_RETURN(std::string due, s.Declare("due", DataType::kBool));
    FLEET_ASSIGN_OR_RETURN(std::string sync, s.Declare("sync", DataType::kBool));

    // The end of the step: average the parameters when a period is complete.
    std::vector<Op> tail = {s.Constant(begin_var, begin),
                            s.Constant(k_var, k),
                            s.Constant(zero, 0),
                            s.Binary("Sub", step, begin_var, since),
                            s.Binary("Mod", since, k_var, phase),
                            s.Binary("Greater", since, zero, started),
                            s.Binary("Equal", phase, zero, due),
                            s.Binary("And", started, due, sync)};
    tail.push_back(
        ConditionalAverage(main, sync, params, cap, /*grads=*/false, "localsgd.average_params"));
    Block& block = main.main();
    for (Op& op : tail) block.ops.push_back(std::move(op));

    // The warm start: average the gradients while the step count (before this step's
    // increment) is below begin_step.
    if (begin > 0) {
      FLEET_ASSIGN_OR_RETURN(std::string warm_begin, s.Declare("warm_begin", DataType::kI64));
      FLEET_ASSIGN_OR_RETURN(std::string warm, s.Declare("warm", DataType::kBool));
      std::vector<Op> head = {s.Constant(warm_begin, begin),
                              s.Binary("Less", step, warm_begin, warm)};
      head.push_back(
          ConditionalAverage(main, warm, grads, cap, /*grads=*/true, "localsgd.average_grads"));
      Block& main_block = main.main();
      main_block.ops.insert(main_block.ops.begin() + static_cast<std::ptrdiff_t>(after_backward),
                            std::make_move_iterator(head.begin()),
                            std::make_move_iterator(head.end()));
    }
    ctx.Note(absl::StrCat("parameters averaged every ", k, " step(s) from step ", begin));
    distributed::AddStartupBroadcast(job, main.main(), params, cap);
    return true;
  }

  absl::StatusOr<bool> Run(Program&, PassContext&) override {
    return absl::FailedPreconditionError(
        "pass 'localsgd' also writes the startup program; run it over a job, not a single "
        "program");
  }
};

}  // namespace

std::unique_ptr<Pass> CreateLocalSgdPass() { return std::make_unique<LocalSgdPass>(); }

}  // namespace fleet
