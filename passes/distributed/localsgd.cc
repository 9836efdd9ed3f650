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
#include <tuple>
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

  Op Constant(const std::string& out, double value, const char* dtype = "i64") {
    Op op;
    op.type = "fleet.fill_constant";
    op.outputs = {{"Out", {out}}};
    op.attrs["dtype"] = AttrValue(std::string(dtype));
    op.attrs["shape"] = AttrValue(std::vector<int64_t>{1});
    op.attrs["value"] = AttrValue(static_cast<float>(value));
    op.role = kRoleDist;
    return op;
  }

  // An op of `type` reading `inputs` and writing `outputs`, (slot, var) each.
  static Op Make(const std::string& type, std::vector<std::pair<std::string, std::string>> inputs,
                 std::vector<std::pair<std::string, std::string>> outputs) {
    Op op;
    op.type = type;
    for (auto& [slot, var] : inputs) op.inputs.push_back({slot, {var}});
    for (auto& [slot, var] : outputs) op.outputs.push_back({slot, {var}});
    op.role = kRoleDist;
    return op;
  }

  // Max or Min over `inputs` (ONNX's variadic data_0).
  static Op Variadic(const std::string& type, std::vector<std::string> inputs,
                     const std::string& out_slot, const std::string& out) {
    Op op = Make(type, {}, {{out_slot, out}});
    op.inputs = {{"data_0", std::move(inputs)}};
    return op;
  }

  static Op Binary(const std::string& type, const std::string& a, const std::string& b,
                   const std::string& c) {
    return Make(type, {{"A", a}, {"B", b}}, {{"C", c}});
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

// Adaptive LocalSGD: the period lives in persistable state (localsgd@k_steps, @last_sync,
// @loss0, filled by the startup program) and is recomputed inside the averaging block from
// the ranks' mean loss, which every rank computes alike, so all ranks keep one schedule.
absl::Status AppendAdaptiveSchedule(Job& job, ScheduleBuilder& s, const std::string& step,
                                    int64_t k, int64_t begin, std::vector<Member> params,
                                    int64_t cap) {
  Program& main = job.main();
  const TrainingFacts& facts = main.meta.training;
  float lr0 = 0;
  for (const Op& op : main.main().ops) {
    auto it = op.attrs.find("base_lr");
    if (op.type == "fleet.lr_schedule" && it != op.attrs.end()) lr0 = std::get<float>(it->second);
  }
  if (facts.loss.empty() || facts.learning_rate.empty() || !(lr0 > 0)) {
    return absl::FailedPreconditionError(
        "pass 'localsgd': --adaptive needs the loss, the learning rate and its schedule's "
        "base_lr (run it after loss, autodiff and optimizer)");
  }
  FLEET_ASSIGN_OR_RETURN(std::string k_state, s.Declare("k_steps", DataType::kI64));
  FLEET_ASSIGN_OR_RETURN(std::string last, s.Declare("last_sync", DataType::kI64));
  FLEET_ASSIGN_OR_RETURN(std::string loss0, s.Declare("loss0", DataType::kF32));
  for (const std::string& state : {k_state, last, loss0}) {
    main.main().FindVar(state)->flags |= kVarPersistable;
  }
  FLEET_ASSIGN_OR_RETURN(std::string begin_var, s.Declare("begin", DataType::kI64));
  FLEET_ASSIGN_OR_RETURN(std::string since, s.Declare("since", DataType::kI64));
  FLEET_ASSIGN_OR_RETURN(std::string started, s.Declare("started", DataType::kBool));
  FLEET_ASSIGN_OR_RETURN(std::string early, s.Declare("early", DataType::kBool));
  FLEET_ASSIGN_OR_RETURN(std::string due, s.Declare("due", DataType::kBool));
  FLEET_ASSIGN_OR_RETURN(std::string sync, s.Declare("sync", DataType::kBool));
  std::vector<Op> tail = {s.Constant(begin_var, static_cast<double>(begin)),
                          s.Binary("Sub", step, last, since),
                          s.Binary("Greater", step, begin_var, started),
                          s.Binary("Less", since, k_state, early),
                          ScheduleBuilder::Make("Not", {{"X", early}}, {{"Y", due}}),
                          s.Binary("And", started, due, sync)};
  Op average = ConditionalAverage(main, sync, std::move(params), cap, /*grads=*/false,
                                  "localsgd.average_params");
  // The block's own vars and the new period, after the parameters' average.
  Block& block =
      main.blocks[static_cast<size_t>(std::get<BlockRef>(average.attrs["sub_block"]).index)];
  auto local = [&](const char* name, DataType dtype) {
    Var v;
    v.name = absl::StrCat("localsgd@", name);
    v.dtype = dtype;
    v.shape = std::vector<int64_t>{1};
    block.AddVar(v);
    return v.name;
  };
  const std::string zero_f = local("zero_f", DataType::kF32),
                    avg = local("loss_avg", DataType::kF32),
                    first = local("first", DataType::kBool), lr0_var = local("lr0", DataType::kF32),
                    num = local("num", DataType::kF32), den = local("den", DataType::kF32),
                    ratio = local("ratio", DataType::kF32), k0 = local("k0", DataType::kF32),
                    scaled = local("scaled", DataType::kF32), root = local("root", DataType::kF32),
                    up = local("up", DataType::kF32), whole = local("whole", DataType::kI64),
                    one = local("one", DataType::kI64), most = local("most", DataType::kI64),
                    floor1 = local("at_least_1", DataType::kI64),
                    zero_i = local("zero_i", DataType::kI64);
  Op mean_loss = ScheduleBuilder::Make("fleet.allreduce", {{"X", avg}}, {{"Out", avg}});
  mean_loss.attrs["reduce"] = AttrValue(std::string("mean"));
  mean_loss.role = kRoleCollective;
  Op cast = ScheduleBuilder::Make("Cast", {{"input", up}}, {{"output", whole}});
  cast.attrs["to"] = AttrValue(int64_t{7});  // INT64
  std::vector<Op> adapt = {
      s.Constant(zero_f, 0, "f32"),
      // A copy of the loss (Add makes a new tensor), averaged over the ranks in place.
      ScheduleBuilder::Binary("Add", facts.loss, zero_f, avg), std::move(mean_loss),
      ScheduleBuilder::Binary("Equal", loss0, zero_f, first),
      ScheduleBuilder::Make("Where", {{"condition", first}, {"X", avg}, {"Y", loss0}},
                            {{"output", loss0}}),
      s.Constant(lr0_var, lr0, "f32"), ScheduleBuilder::Binary("Mul", lr0_var, avg, num),
      ScheduleBuilder::Binary("Mul", facts.learning_rate, loss0, den),
      ScheduleBuilder::Binary("Div", num, den, ratio),
      s.Constant(k0, static_cast<double>(k), "f32"),
      ScheduleBuilder::Binary("Mul", ratio, k0, scaled),
      ScheduleBuilder::Make("Sqrt", {{"X", scaled}}, {{"Y", root}}),
      ScheduleBuilder::Make("Ceil", {{"X", root}}, {{"Y", up}}), std::move(cast),
      s.Constant(one, 1), s.Constant(most, 16),
      ScheduleBuilder::Variadic("Max", {whole, one}, "max", floor1),
      ScheduleBuilder::Variadic("Min", {floor1, most}, "min", k_state), s.Constant(zero_i, 0),
      ScheduleBuilder::Binary("Add", step, zero_i, last)};
  for (Op& op : adapt) block.ops.push_back(std::move(op));
  for (const std::string& state : {loss0, k_state, last}) average.outputs[0].vars.push_back(state);
  tail.push_back(std::move(average));
  for (Op& op : tail) main.main().ops.push_back(std::move(op));

  // Their first values, in the startup program.
  Program& startup = job.programs[kStartupProgram];
  for (const auto& [state, value, dtype] :
       {std::tuple<std::string, double, const char*>{k_state, static_cast<double>(k), "i64"},
        {last, static_cast<double>(begin), "i64"},
        {loss0, 0.0, "f32"}}) {
    Var decl = *main.main().FindVar(state);
    startup.main().AddVar(decl);
    Op fill = s.Constant(state, value, dtype);
    fill.role = kRoleNone;
    startup.main().ops.push_back(std::move(fill));
  }
  return absl::OkStatus();
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
    if (config.adaptive()) {
      FLEET_RETURN_IF_ERROR(AppendAdaptiveSchedule(job, s, step, k, begin, params, cap));
    } else {
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
    }

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
    ctx.Note(absl::StrCat("parameters averaged every ", k, config.adaptive() ? " (at first)" : "",
                          " step(s) from step ", begin));
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
