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
// Every rank issues the same collectives in the same order: the order is the program's.
// Sparse (embedding) gradients are not handled yet: the pass fails naming the parameter.
#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "ir/status_macros.h"
#include "passes/builtin_passes.h"
#include "passes/strategy.h"

namespace fleet {
namespace {

constexpr double kDefaultBucketMb = 25;

// One var to reduce or broadcast: its pair, dtype and size.
struct Member {
  RoleVar pair;
  DataType dtype = DataType::kUndefined;
  int64_t bytes = 0;
};

struct Bucket {
  std::vector<Member> members;
  int64_t bytes = 0;
  size_t insert_after = 0;  // main-block op index after which the allreduce goes
};

// Bytes of `var` from its static shape, or an error naming it.
absl::StatusOr<int64_t> StaticBytes(const Var& var, const std::string& what) {
  if (!var.shape.has_value()) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " '", var.name, "' has no shape; expected a static one to bucket it"));
  }
  int64_t n = 1;
  for (int64_t d : *var.shape) {
    if (d < 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          what, " '", var.name, "' has an unknown dim; expected a static shape to bucket it"));
    }
    n *= d;
  }
  return n * static_cast<int64_t>(DataTypeSize(var.dtype));
}

// Groups `members` in order into buckets of at most `cap` bytes, one dtype per bucket.
std::vector<Bucket> MakeBuckets(std::vector<std::pair<Member, size_t>> members, int64_t cap) {
  std::vector<Bucket> buckets;
  for (auto& [member, index] : members) {
    const bool fits = !buckets.empty() && buckets.back().bytes + member.bytes <= cap &&
                      buckets.back().members.front().dtype == member.dtype;
    if (!fits) buckets.emplace_back();
    Bucket& b = buckets.back();
    b.bytes += member.bytes;
    b.insert_after = std::max(b.insert_after, index);
    b.members.push_back(std::move(member));
  }
  return buckets;
}

Op CollectiveOp(const std::string& type, const std::string& name, const Bucket& bucket,
                bool grads) {
  Op op;
  op.type = type;
  op.name = name;
  std::vector<std::string> vars;
  for (const Member& m : bucket.members) {
    vars.push_back(grads ? m.pair.grad : m.pair.param);
    if (grads) AddRoleVar(op, m.pair.param, m.pair.grad);
  }
  op.inputs = {{"X", vars}};
  op.outputs = {{"Out", vars}};
  op.role = kRoleCollective;
  return op;
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
    if (!main.meta.IsTraining()) {
      return absl::FailedPreconditionError(
          "pass 'allreduce' needs a training program; run it after loss, autodiff and optimizer");
    }
    double bucket_mb = kDefaultBucketMb;
    if (ctx.strategy() != nullptr && ctx.strategy()->collective().bucket_mb() > 0) {
      bucket_mb = ctx.strategy()->collective().bucket_mb();
    }
    const int64_t cap = static_cast<int64_t>(bucket_mb * 1024 * 1024);
    Block& block = main.main();

    // The final gradients, in the order backward writes them.
    std::vector<std::pair<Member, size_t>> grads;
    for (size_t i = 0; i < block.ops.size(); ++i) {
      const Op& op = block.ops[i];
      if (!HasRole(op, kRoleBackward)) continue;
      for (const RoleVar& pair : op.role_vars) {
        const Var* grad = block.FindVar(pair.grad);
        if (grad == nullptr) {
          return absl::InvalidArgumentError(absl::StrCat(op.Describe(), ": records gradient '",
                                                         pair.grad, "', which is not declared"));
        }
        if (grad->kind == VarKind::kSparseRows) {
          return absl::UnimplementedError(absl::StrCat(
              "parameter '", pair.param, "' has a sparse (embedding) gradient '", pair.grad,
              "'; the collective strategy averages dense gradients only (an allgather of "
              "sparse rows is not implemented yet)"));
        }
        FLEET_ASSIGN_OR_RETURN(int64_t bytes, StaticBytes(*grad, "gradient"));
        grads.push_back({Member{pair, grad->dtype, bytes}, i});
      }
    }
    if (grads.empty()) {
      return absl::FailedPreconditionError(
          "pass 'allreduce': no backward op records a (parameter, gradient) pair; run it after "
          "autodiff");
    }

    // Broadcast the same parameters at startup, before anything reads them.
    std::vector<std::pair<Member, size_t>> params;
    for (const auto& [grad, index] : grads) {
      const Var* param = block.FindVar(grad.pair.param);
      if (param == nullptr) {
        return absl::InvalidArgumentError(
            absl::StrCat("parameter '", grad.pair.param, "' is not declared in the main block"));
      }
      FLEET_ASSIGN_OR_RETURN(int64_t bytes, StaticBytes(*param, "parameter"));
      params.push_back({Member{grad.pair, param->dtype, bytes}, 0});
    }

    std::vector<Bucket> buckets = MakeBuckets(std::move(grads), cap);
    // Insert from the back so the earlier indices stay valid.
    for (size_t b = buckets.size(); b-- > 0;) {
      Op allreduce = CollectiveOp("fleet.allreduce", absl::StrCat("allreduce.bucket", b),
                                  buckets[b], /*grads=*/true);
      allreduce.attrs["reduce"] = AttrValue(std::string("mean"));
      const auto at = static_cast<std::ptrdiff_t>(buckets[b].insert_after) + 1;
      block.ops.insert(block.ops.begin() + at, std::move(allreduce));
    }
    ctx.Note(
        absl::StrCat("allreduce: ", buckets.size(), " bucket(s) of at most ", bucket_mb, " MiB"));

    Program& startup = job.programs[kStartupProgram];
    if (startup.meta.role.empty()) {
      startup.meta = ProgramMeta{};
      startup.meta.opset = main.meta.opset;
      startup.meta.producer = main.meta.producer;
      startup.meta.strategy = main.meta.strategy;
      startup.meta.role = "startup";
    }
    std::vector<Bucket> param_buckets = MakeBuckets(std::move(params), cap);
    for (size_t b = 0; b < param_buckets.size(); ++b) {
      for (const Member& m : param_buckets[b].members) {
        if (startup.main().FindVar(m.pair.param) != nullptr) continue;
        Var decl = *block.FindVar(m.pair.param);
        decl.flags = kVarPersistable | kVarParameter;
        startup.main().AddVar(std::move(decl));
      }
      startup.main().ops.push_back(CollectiveOp("fleet.broadcast",
                                                absl::StrCat("broadcast.bucket", b),
                                                param_buckets[b], /*grads=*/false));
    }
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
