// Gradient pairs, buckets and collective ops of the data-parallel passes (buckets.h).
#include "passes/distributed/buckets.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "ir/status_macros.h"

namespace fleet::distributed {
namespace {

// Bytes of `var` from its static shape, or an error naming it.
absl::StatusOr<int64_t> StaticBytes(const Var& var, const std::string& what) {
  bool known = var.shape.has_value();
  int64_t n = 1;
  for (int64_t d : var.shape.value_or(std::vector<int64_t>{})) {
    known = known && d >= 0;
    n *= std::max<int64_t>(d, 0);
  }
  if (!known) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, " '", var.name, "' has no static shape; expected one to put it in a bucket"));
  }
  return n * static_cast<int64_t>(DataTypeSize(var.dtype));
}

}  // namespace

std::vector<std::string> DensifyEmbeddingGradients(Program& main,
                                                   const std::set<std::string>& keep) {
  Block& block = main.main();
  std::vector<std::string> changed;
  for (Op& op : block.ops) {
    if (op.type != "fleet.gather_grad_sparse" || !HasRole(op, kRoleBackward)) continue;
    for (const RoleVar& pair : op.role_vars) {
      if (keep.count(pair.param)) continue;
      Var* grad = block.FindVar(pair.grad);
      if (grad == nullptr || grad->kind != VarKind::kSparseRows) continue;
      const Slot* out = op.FindOutput("XGrad");
      if (out == nullptr || out->vars.size() != 1 || out->vars[0] != pair.grad) continue;
      op.type = "fleet.gather_grad";
      grad->kind = VarKind::kDense;
      changed.push_back(pair.param);
    }
  }
  return changed;
}

absl::StatusOr<std::vector<Member>> FinalGradients(const Program& main, std::string_view pass,
                                                   std::vector<Member>* sparse) {
  if (!main.meta.IsTraining()) {
    return absl::FailedPreconditionError(
        absl::StrCat("pass '", std::string(pass),
                     "' needs a training program; run it after loss, autodiff and optimizer"));
  }
  const Block& block = main.main();
  std::vector<Member> grads;
  for (size_t i = 0; i < block.ops.size(); ++i) {
    const Op& op = block.ops[i];
    if (!HasRole(op, kRoleBackward)) continue;
    for (const RoleVar& pair : op.role_vars) {
      const Var* grad = block.FindVar(pair.grad);
      if (grad == nullptr) {
        return absl::InvalidArgumentError(absl::StrCat(op.Describe(), ": records gradient '",
                                                       pair.grad, "', which is not declared"));
      }
      if (grad->kind == VarKind::kSparseRows && sparse != nullptr) {
        FLEET_ASSIGN_OR_RETURN(int64_t bytes, StaticBytes(*grad, "gradient"));
        sparse->push_back(Member{pair, grad->dtype, bytes, i});
        continue;
      }
      if (grad->kind == VarKind::kSparseRows) {
        return absl::UnimplementedError(absl::StrCat(
            "parameter '", pair.param, "' has a sparse (embedding) gradient '", pair.grad,
            "'; pass '", std::string(pass),
            "' averages dense buckets here; it makes an embedding's own gradient dense, but "
            "not one summed over several lookups (hint: --collective-mode allreduce gathers "
            "sparse rows)"));
      }
      FLEET_ASSIGN_OR_RETURN(int64_t bytes, StaticBytes(*grad, "gradient"));
      grads.push_back(Member{pair, grad->dtype, bytes, i});
    }
  }
  if (grads.empty() && (sparse == nullptr || sparse->empty())) {
    return absl::FailedPreconditionError(absl::StrCat(
        "pass '", std::string(pass),
        "': no backward op records a (parameter, gradient) pair; run it after autodiff"));
  }
  return grads;
}

absl::StatusOr<std::vector<Member>> ParametersOf(const Block& block,
                                                 const std::vector<Member>& grads) {
  std::vector<Member> params;
  for (const Member& grad : grads) {
    const Var* param = block.FindVar(grad.pair.param);
    if (param == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("parameter '", grad.pair.param, "' is not declared in the main block"));
    }
    FLEET_ASSIGN_OR_RETURN(int64_t bytes, StaticBytes(*param, "parameter"));
    params.push_back(Member{grad.pair, param->dtype, bytes, grad.writer});
  }
  return params;
}

std::vector<Bucket> MakeBuckets(std::vector<Member> members, int64_t cap) {
  std::vector<Bucket> buckets;
  for (Member& member : members) {
    const bool fits = !buckets.empty() && buckets.back().bytes + member.bytes <= cap &&
                      buckets.back().members.front().dtype == member.dtype;
    if (!fits) buckets.emplace_back();
    Bucket& b = buckets.back();
    b.bytes += member.bytes;
    b.last_writer = std::max(b.last_writer, member.writer);
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

void AddStartupBroadcast(Job& job, const Block& main_block, const std::vector<Member>& params,
                         int64_t cap) {
  const Program& main = job.main();
  ProgramMeta meta;
  meta.opset = main.meta.opset;
  meta.producer = main.meta.producer;
  meta.strategy = main.meta.strategy;
  meta.role = "startup";
  Program& startup = job.programs[kStartupProgram];
  if (startup.meta.role.empty()) startup.meta = std::move(meta);
  std::vector<Bucket> buckets = MakeBuckets(params, cap);
  for (size_t b = 0; b < buckets.size(); ++b) {
    for (const Member& m : buckets[b].members) {
      if (startup.main().FindVar(m.pair.param) != nullptr) continue;
      Var decl = *main_block.FindVar(m.pair.param);
      decl.flags = kVarPersistable | kVarParameter;
      startup.main().AddVar(std::move(decl));
    }
    startup.main().ops.push_back(CollectiveOp("fleet.broadcast",
                                              absl::StrCat("broadcast.bucket", b), buckets[b],
                                              /*grads=*/false));
  }
}

}  // namespace fleet::distributed
