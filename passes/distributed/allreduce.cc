// allreduce: data-parallel training. Every rank runs the same trainer program on its own shard
// of the data; this pass averages the gradients over the ranks before the update and makes the
// ranks start from the same parameters.
//
// In the main program, after the backward op that writes each parameter's final gradient (the
// (param, grad) pairs autodiff records on it), the gradients are grouped into buckets of at
// most training.collective.bucket_mb MiB in the order backward produces them, and each bucket
// gets one fused, in-place allreduce right after its last gradient is written:
//
//   (Out: [%"w2@GRAD", %"b2@GRAD"]) = fleet.allreduce(X: [%"w2@GRAD", %"b2@GRAD"])
//       {group = 0, reduce = "mean"} role=collective vars=[(%w2, %"w2@GRAD"), (%b2, %"b2@GRAD")]
//
// The op is in flight while the backward ops after it run (the executor waits only where the
// optimizer reads the gradient), as PyTorch DDP's buckets are. "mean" divides by the number of
// ranks at run time, so one job serves any number of ranks, and N ranks at batch B compute the
// update of one process at batch N*B. Gradient clipping and the update read the averaged
// gradients. In the startup program every parameter is broadcast from rank 0 (in buckets of the
// same size), so the ranks start identical even when the initial values are random.
//
// --collective-mode reduce (Paddle's Reduce strategy): bucket b's gradients go to its owner,
// rank b mod N, through fleet.reduce, and each bucket's updates move into a conditional
// sub-block that only the owner runs, followed by a broadcast of the bucket's parameters from
// the owner:
//
//   (Out: [...]) = fleet.reduce(X: [%"w@GRAD", ...]) {reduce = "mean", root = 1}
//   ...
//   (Out: %"reduce@owner1") = fleet.is_rank() {rank = 1}
//   (Out: [%w, ...]) = fleet.conditional_block(Cond: %"reduce@owner1") {sub_block = ^2}
//   (Out: [%w, ...]) = fleet.broadcast(X: [%w, ...]) {root = 1}
//
// so each rank runs 1/N of the optimizer. The optimizer state of a parameter is current on its
// owner only, so for an optimizer with state the pass also adds the job's checkpoint_sync
// program, which fleet-run runs on every rank before a checkpoint is written: one broadcast of
// each bucket's state from its owner, in bucket order,
//
//   (Out: [%"w@moment1", ...]) = fleet.broadcast(X: [%"w@moment1", ...]) {root = 1}
//
// after which every rank (and so the one that writes) holds every parameter's current state,
// and a checkpoint restores any rank. Clipping by the global norm needs every gradient on every
// rank, so it is refused.
//
// Every rank issues the same collectives in the same order: the order is the program's.
// An embedding's sparse-row gradient stays sparse: fleet.allgather_rows after its last writer
// hands every rank all ranks' rows, each divided by the number of ranks, so only the touched
// rows travel (PyTorch DDP makes them dense by default). The reduce mode makes them dense
// first (DensifyEmbeddingGradients); it refuses a sparse gradient summed over several lookups.
#include <algorithm>
#include <cstdint>
#include <map>
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

// Reduce mode, for an optimizer with state: the checkpoint_sync program, which broadcasts each
// bucket's state vars (`state[b]`, those its updates write besides its parameters) from the
// bucket's owner, one broadcast per bucket and dtype. Nothing when no bucket has state.
void AddCheckpointSync(Job& job, const std::vector<std::vector<std::string>>& state) {
  const Program& main = job.main();
  Program sync;
  sync.meta.opset = main.meta.opset;
  sync.meta.producer = main.meta.producer;
  sync.meta.strategy = main.meta.strategy;
  sync.meta.role = kCheckpointSyncProgram;
  for (size_t b = 0; b < state.size(); ++b) {
    std::map<DataType, std::vector<std::string>> by_dtype;
    for (const std::string& name : state[b]) {
      const Var* var = main.main().FindVar(name);
      if (var == nullptr || !var->Has(kVarPersistable)) continue;
      sync.main().AddVar(*var);
      by_dtype[var->dtype].push_back(name);
    }
    for (const auto& [dtype, names] : by_dtype) {
      Op broadcast;
      broadcast.type = "fleet.broadcast";
      broadcast.name =
          absl::StrCat("checkpoint_sync.bucket", b,
                       by_dtype.size() > 1 ? absl::StrCat(".", DataTypeName(dtype)) : "");
      broadcast.inputs = {{"X", names}};
      broadcast.outputs = {{"Out", names}};
      broadcast.attrs["root"] = AttrValue(static_cast<int64_t>(b));
      broadcast.role = kRoleCollective;
      sync.main().ops.push_back(std::move(broadcast));
    }
  }
  if (!sync.main().ops.empty()) job.programs[kCheckpointSyncProgram] = std::move(sync);
}

// Reduce mode: moves each bucket's update ops into a sub-block run by the bucket's owner, then
// broadcasts the bucket's parameters from it; adds the checkpoint_sync program for their state.
absl::Status OwnUpdates(Job& job, const std::vector<Bucket>& buckets) {
  Program& main = job.main();
  std::map<std::string, size_t> bucket_of;
  for (size_t b = 0; b < buckets.size(); ++b) {
    for (const Member& m : buckets[b].members) bucket_of[m.pair.param] = b;
  }
  std::vector<std::vector<Op>> updates(buckets.size());
  std::vector<Op> kept;
  size_t at = 0;
  bool found = false;
  for (Op& op : main.main().ops) {
    if (op.type == "fleet.clip_by_global_norm") {
      return absl::UnimplementedError(
          absl::StrCat(op.Describe(),
                       ": --collective-mode reduce cannot clip by the global norm: each rank "
                       "holds only its own buckets' gradients (hint: use --collective-mode "
                       "allreduce, or no --clip-norm)"));
    }
    if (!HasRole(op, kRoleOptimize) || op.role_vars.empty()) {
      kept.push_back(std::move(op));
      continue;
    }
    auto it = bucket_of.find(op.role_vars.front().param);
    if (it == bucket_of.end()) {
      return absl::InvalidArgumentError(absl::StrCat(op.Describe(), ": updates '",
                                                     op.role_vars.front().param,
                                                     "', whose gradient no bucket carries"));
    }
    if (!found) at = kept.size();
    found = true;
    updates[it->second].push_back(std::move(op));
  }
  std::vector<Op> owned;
  std::vector<std::vector<std::string>> state(buckets.size());
  for (size_t b = 0; b < buckets.size(); ++b) {
    if (updates[b].empty()) continue;
    const std::string cond = absl::StrCat("reduce@owner", b);
    Var flag;
    flag.name = cond;
    flag.dtype = DataType::kBool;
    flag.shape = std::vector<int64_t>{1};
    if (!main.main().AddVar(std::move(flag))) {
      return absl::InvalidArgumentError(absl::StrCat(
          "pass 'allreduce': the program already has a var '", cond, "'; expected a fresh name"));
    }
    Op is_rank;
    is_rank.type = "fleet.is_rank";
    is_rank.outputs = {{"Out", {cond}}};
    is_rank.attrs["rank"] = AttrValue(static_cast<int64_t>(b));
    is_rank.role = kRoleCollective;
    owned.push_back(std::move(is_rank));

    const int sub = main.AddBlock(0);
    std::vector<std::string> outs;
    for (Op& op : updates[b]) {
      for (const std::string& v : op.OutputVars()) {
        if (std::find(outs.begin(), outs.end(), v) == outs.end()) outs.push_back(v);
      }
      main.blocks[static_cast<size_t>(sub)].ops.push_back(std::move(op));
    }
    for (const std::string& v : outs) {
      const bool param = std::any_of(buckets[b].members.begin(), buckets[b].members.end(),
                                     [&v](const Member& m) { return m.pair.param == v; });
      if (!param) state[b].push_back(v);
    }
    Op run;
    run.type = "fleet.conditional_block";
    run.name = absl::StrCat("reduce.update", b);
    run.inputs = {{"Cond", {cond}}};
    run.outputs = {{"Out", outs}};
    run.attrs["sub_block"] = AttrValue(BlockRef{sub});
    run.role = kRoleOptimize;
    owned.push_back(std::move(run));

    Op broadcast = distributed::CollectiveOp("fleet.broadcast", absl::StrCat("reduce.broadcast", b),
                                             buckets[b], /*grads=*/false);
    broadcast.attrs["root"] = AttrValue(static_cast<int64_t>(b));
    owned.push_back(std::move(broadcast));
  }
  kept.insert(kept.begin() + static_cast<std::ptrdiff_t>(at),
              std::make_move_iterator(owned.begin()), std::make_move_iterator(owned.end()));
  main.main().ops = std::move(kept);
  AddCheckpointSync(job, state);
  return absl::OkStatus();
}

class AllreducePass final : public Pass {
 public:
  std::string_view name() const override { return "allreduce"; }
  std::string_view description() const override {
    return "averages the gradients over the ranks in fused buckets and broadcasts the "
           "parameters from rank 0 at startup (a job pass, after optimizer and startup)";
  }

  absl::StatusOr<bool> RunOnJob(Job& job, PassContext& ctx) override {
    Program& main = job.main();
    const bool reduce_mode = ctx.strategy() != nullptr &&
                             ctx.strategy()->collective().mode() == proto::CollectiveConfig::REDUCE;
    // Allreduce mode: an embedding's sparse rows stay sparse and travel by allgather. The reduce
    // mode reduces dense buckets to their owners, so it makes them dense.
    if (reduce_mode) {
      const std::vector<std::string> densified = distributed::DensifyEmbeddingGradients(main);
      if (!densified.empty()) {
        ctx.Note(
            absl::StrCat("dense gradients for the embedding(s) ", absl::StrJoin(densified, ", ")));
      }
    }
    std::vector<Member> sparse;
    FLEET_ASSIGN_OR_RETURN(
        std::vector<Member> grads,
        distributed::FinalGradients(main, name(), reduce_mode ? nullptr : &sparse));
    double bucket_mb = kDefaultBucketMb;
    if (ctx.strategy() != nullptr && ctx.strategy()->collective().bucket_mb() > 0) {
      bucket_mb = ctx.strategy()->collective().bucket_mb();
    }
    const auto cap = static_cast<int64_t>(bucket_mb * distributed::kBytesPerMb);
    Block& block = main.main();
    std::vector<Member> all = grads;
    all.insert(all.end(), sparse.begin(), sparse.end());
    FLEET_ASSIGN_OR_RETURN(std::vector<Member> params, distributed::ParametersOf(block, all));

    std::vector<Bucket> buckets = distributed::MakeBuckets(std::move(grads), cap);
    // Each collective starts right after the last gradient it carries is written. Collected
    // with their places, then inserted from the back so the earlier indices stay valid (a
    // stable sort keeps the program's order for ops at one place, the same on every rank).
    std::vector<std::pair<size_t, Op>> placed;
    for (size_t b = 0; b < buckets.size(); ++b) {
      Op collective = distributed::CollectiveOp(
          reduce_mode ? "fleet.reduce" : "fleet.allreduce",
          absl::StrCat(reduce_mode ? "reduce" : "allreduce", ".bucket", b), buckets[b],
          /*grads=*/true);
      collective.attrs["reduce"] = AttrValue(std::string("mean"));
      if (reduce_mode) collective.attrs["root"] = AttrValue(static_cast<int64_t>(b));
      placed.emplace_back(buckets[b].last_writer + 1, std::move(collective));
    }
    for (const Member& m : sparse) {
      Op gather;
      gather.type = "fleet.allgather_rows";
      gather.name = absl::StrCat("allgather_rows.", m.pair.param);
      gather.inputs = {{"X", {m.pair.grad}}};
      gather.outputs = {{"Out", {m.pair.grad}}};
      gather.attrs["reduce"] = AttrValue(std::string("mean"));
      gather.role = kRoleCollective;
      AddRoleVar(gather, m.pair.param, m.pair.grad);
      placed.emplace_back(m.writer + 1, std::move(gather));
    }
    std::stable_sort(placed.begin(), placed.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    for (size_t i = placed.size(); i-- > 0;) {
      block.ops.insert(block.ops.begin() + static_cast<std::ptrdiff_t>(placed[i].first),
                       std::move(placed[i].second));
    }
    if (reduce_mode) FLEET_RETURN_IF_ERROR(OwnUpdates(job, buckets));
    ctx.Note(absl::StrCat(buckets.size(), " bucket(s) of at most ", bucket_mb, " MiB"));
    distributed::AddStartupBroadcast(job, main.main(), params, cap);
    return true;
  }

  absl::StatusOr<bool> Run(Program&, PassContext&) override {
    return absl::FailedPreconditionError(
        "pass 'allreduce' also writes the startup program; run it over a job, not a single "
        "program");
  }
};

}  // namespace

std::unique_ptr<Pass> CreateAllreducePass() { return std::make_unique<AllreducePass>(); }

}  // namespace fleet
