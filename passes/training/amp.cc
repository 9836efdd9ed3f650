// amp: mixed-precision training (strategy.amp, fleet-transpile --amp fp16|bf16), after the
// optimizer pass and before startup. Two rewrites of the main block:
//
// 1. Low precision. Each GEMM and convolution, forward or backward (MatMul, Gemm, Conv and
//    their gradient ops), whose float operands are f32 computes in f16 (or bf16): its f32 inputs
//    are cast to f16 and its outputs come back to f32 through a cast, so every other op, the
//    parameters and their updates stay f32, as under PyTorch's autocast or Paddle's AMP level O1
//    (for bf16 the casts say {to = 16} and the copies are named "@bf16"):
//
//      (output: %"x@f16") = Cast(input: %x) {to = 10} role=forward
//      (output: %"w@f16") = Cast(input: %w) {to = 10} role=forward
//      (Y: %"h@f16") = MatMul(A: %"x@f16", B: %"w@f16") role=forward
//      (output: %h) = Cast(input: %"h@f16") {to = 1} role=forward
//
//    A var is cast once and its f16 copy reused until an op writes the var again (a weight's
//    copy serves its forward GEMM and both gradient GEMMs). Where a GEMM wrote a parameter's
//    final gradient, the (param, grad) pair moves to the cast that now writes it, so the
//    allreduce pass still starts each bucket right after its gradient.
//
// 2. Loss scaling, for fp16 only: f16 has 5 exponent bits, so small gradients would flush to
//    zero, while bf16 has f32's 8 and needs none (PyTorch's bf16 autocast uses no scaler). The
//    loss gradient's seed is multiplied by a persistable f32[] scale, the gradients are divided
//    by it before the update, and the update runs only when they are all finite; then the
//    scale moves, as torch.cuda.amp.GradScaler moves it:
//
//      (Out: %"loss@GRAD@unscaled") = fleet.fill_like(X: %loss) {value = 1.0}
//      (C: %"loss@GRAD") = Mul(A: %"loss@GRAD@unscaled", B: %"amp@loss_scale")
//      ... backward, the LR schedule ...
//      (Out: [%"w@GRAD", ...], AllFinite: %"amp@all_finite") = fleet.check_finite_and_unscale(
//          X: [%"w@GRAD", ...], Scale: %"amp@loss_scale")
//      (Out: [%w, %"w@moment1", ...]) = fleet.conditional_block(Cond: %"amp@all_finite")
//          {sub_block = ^1}                        block 1: the clip and update ops
//      (ScaleOut: %"amp@loss_scale", ...) = fleet.update_loss_scaling(AllFinite: ...,
//          Scale: %"amp@loss_scale", GoodSteps: %"amp@good_steps",
//          SkippedSteps: %"amp@skipped_steps")
//
//    The startup program gives the scale its init_scale and the counts 0; fleet-run reports
//    the skipped steps. The step counter
//    and the learning-rate schedule go on in a skipped step, as PyTorch's schedulers do.
#include <algorithm>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "ir/dtype.h"
#include "ir/fleet_ops.h"
#include "ir/grad_builder.h"
#include "ir/status_macros.h"
#include "passes/builtin_passes.h"
#include "passes/strategy.h"

namespace fleet {
namespace {

constexpr float kDefaultInitLossScale = 65536.0f;
constexpr int64_t kDefaultGrowthInterval = 2000;

// The ops that compute in 16 bits: the GEMMs and convolutions and their gradients.
bool ComputesInHalf(const Op& op) {
  static const std::set<std::string, std::less<>> kHalfOps = {"MatMul",
                                                              "Gemm",
                                                              "fleet.matmul_grad_a",
                                                              "fleet.matmul_grad_b",
                                                              "Conv",
                                                              "fleet.conv_grad_input",
                                                              "fleet.conv_grad_filter"};
  return kHalfOps.count(op.type) > 0;
}

Op CastOp(const std::string& from, const std::string& to, DataType dtype, uint32_t role) {
  Op cast;
  cast.type = "Cast";
  cast.inputs = {{"input", {from}}};
  cast.outputs = {{"output", {to}}};
  cast.attrs["to"] = AttrValue(static_cast<int64_t>(DataTypeToOnnx(dtype)));
  cast.role = role;
  cast.name = kAmpCastOpName;
  return cast;
}

// Rewrites block 0's GEMMs and convolutions to compute in `half` (f16 or bf16; part 1 above);
// returns how many.
int LowerPrecision(Block& block, DataType half_type) {
  std::map<std::string, std::string> half_of;  // f32 var -> its current 16-bit copy
  std::vector<Op> ops;
  ops.reserve(block.ops.size());
  int lowered = 0;
  auto declare_half = [&](const std::string& name) {
    Var v = *block.FindVar(name);
    v.name = FreshVarName(block, absl::StrCat(name, "@", DataTypeName(half_type)));
    v.dtype = half_type;
    v.flags = 0;
    block.AddVar(v);
    return v.name;
  };
  auto is_f32_dense = [&](const std::string& name) {
    const Var* v = block.FindVar(name);
    return v != nullptr && v->dtype == DataType::kF32 && v->kind == VarKind::kDense;
  };
  for (Op& op : block.ops) {
    bool all_f32 = ComputesInHalf(op);
    for (const std::string& name : op.InputVars()) all_f32 = all_f32 && is_f32_dense(name);
    for (const std::string& name : op.OutputVars()) all_f32 = all_f32 && is_f32_dense(name);
    if (!all_f32) {
      for (const std::string& name : op.OutputVars()) half_of.erase(name);
      ops.push_back(std::move(op));
      continue;
    }
    for (Slot& slot : op.inputs) {
      for (std::string& name : slot.vars) {
        auto it = half_of.find(name);
        if (it == half_of.end()) {
          const std::string half = declare_half(name);
          ops.push_back(CastOp(name, half, half_type, op.role));
          it = half_of.emplace(name, half).first;
        }
        name = it->second;
      }
    }
    std::vector<Op> casts_back;
    for (Slot& slot : op.outputs) {
      for (std::string& name : slot.vars) {
        const std::string half = declare_half(name);
        Op back = CastOp(half, name, DataType::kF32, op.role);
        back.loc = op.loc;
        for (auto it = op.role_vars.begin(); it != op.role_vars.end();) {
          if (it->grad != name) {
            ++it;
            continue;
          }
          back.role_vars.push_back(*it);
          it = op.role_vars.erase(it);
        }
        half_of.erase(name);
        name = half;
        casts_back.push_back(std::move(back));
      }
    }
    ops.push_back(std::move(op));
    for (Op& back : casts_back) ops.push_back(std::move(back));
    ++lowered;
  }
  block.ops = std::move(ops);
  return lowered;
}

Var ScalarState(std::string name, DataType dtype) {
  Var v;
  v.name = std::move(name);
  v.dtype = dtype;
  v.shape = std::vector<int64_t>{};
  v.flags = kVarPersistable;
  return v;
}

// Scales the loss gradient's seed by `scale` (part 2 above).
absl::Status ScaleLossGradient(Block& block, const std::string& loss, const std::string& scale) {
  const std::string seed = GradVarName(loss);
  for (size_t i = 0; i < block.ops.size(); ++i) {
    Op& op = block.ops[i];
    if (op.type != "fleet.fill_like" || op.OutputVars() != std::vector<std::string>{seed}) continue;
    Var unscaled = *block.FindVar(seed);
    unscaled.name = FreshVarName(block, absl::StrCat(seed, "@unscaled"));
    block.AddVar(unscaled);
    op.outputs[0].vars[0] = unscaled.name;
    Op mul;
    mul.type = "Mul";
    mul.inputs = {{"A", {unscaled.name}}, {"B", {scale}}};
    mul.outputs = {{"C", {seed}}};
    mul.role = op.role;
    mul.name = "amp.scale_loss";
    block.ops.insert(block.ops.begin() + static_cast<std::ptrdiff_t>(i) + 1, std::move(mul));
    return absl::OkStatus();
  }
  return absl::FailedPreconditionError(absl::StrCat("no fleet.fill_like writes the loss gradient '",
                                                    seed, "'; run it after autodiff"));
}

// Moves block 0's clip and update ops into a sub-block run only when the unscaled gradients are
// finite, and moves the scale after it (part 2 above).
absl::Status GuardUpdates(Program& program, const std::string& scale, const std::string& good,
                          const std::string& skipped, const std::string& finite,
                          const AttrMap& scaling_attrs) {
  Block& block = program.main();
  size_t first = block.ops.size(), last = 0;
  for (size_t i = 0; i < block.ops.size(); ++i) {
    if (!HasRole(block.ops[i], kRoleOptimize)) continue;
    first = std::min(first, i);
    last = i;
  }
  if (first == block.ops.size()) {
    return absl::FailedPreconditionError(
        "the program has no optimizer ops; run it after the optimizer pass");
  }
  std::set<std::string> written;
  for (size_t i = first; i <= last; ++i) {
    const Op& op = block.ops[i];
    if (!HasRole(op, kRoleOptimize) || op.type == "fleet.conditional_block") {
      return absl::FailedPreconditionError(absl::StrCat(
          op.Describe(),
          " lies among the optimizer ops; expected them together (run amp right after the "
          "optimizer pass)"));
    }
    for (const std::string& name : op.OutputVars()) written.insert(name);
  }
  // The gradients the update reads, as written by backward (before any clipping).
  std::vector<std::string> grads;
  std::vector<RoleVar> pairs;
  std::set<std::string> seen;
  for (size_t i = first; i <= last; ++i) {
    for (const RoleVar& pair : block.ops[i].role_vars) {
      if (written.count(pair.grad) || !seen.insert(pair.grad).second) continue;
      grads.push_back(pair.grad);
      pairs.push_back(pair);
    }
  }
  if (grads.empty()) {
    return absl::FailedPreconditionError(
        "no optimizer op records the (parameter, gradient) pair it handles");
  }

  const int sub = program.AddBlock(0);
  Block& main = program.main();
  Block& guarded = program.blocks[static_cast<size_t>(sub)];
  std::vector<std::string> outs;
  for (size_t i = first; i <= last; ++i) guarded.ops.push_back(std::move(main.ops[i]));
  std::vector<Var> scratch;
  for (const Var& v : main.vars()) {  // in declaration order
    if (!written.count(v.name)) continue;
    if (v.Has(kVarPersistable)) {
      outs.push_back(v.name);
    } else {
      scratch.push_back(v);  // the update's own (clipped gradients): local to the sub-block
    }
  }
  for (Var& v : scratch) {
    main.RemoveVar(v.name);
    guarded.AddVar(std::move(v));
  }

  Op check;
  check.type = "fleet.check_finite_and_unscale";
  check.name = "amp.unscale";
  check.inputs = {{"X", grads}, {"Scale", {scale}}};
  check.outputs = {{"Out", grads}, {"AllFinite", {finite}}};
  check.role = kRoleOptimize;
  check.role_vars = pairs;
  Op run;
  run.type = "fleet.conditional_block";
  run.name = "amp.update_if_finite";
  run.inputs = {{"Cond", {finite}}};
  run.outputs = {{"Out", outs}};
  run.attrs["sub_block"] = AttrValue(BlockRef{sub});
  run.role = kRoleOptimize;
  Op update;
  update.type = "fleet.update_loss_scaling";
  update.name = "amp.update_scale";
  update.inputs = {{"AllFinite", {finite}},
                   {"Scale", {scale}},
                   {"GoodSteps", {good}},
                   {"SkippedSteps", {skipped}}};
  update.outputs = {
      {"ScaleOut", {scale}}, {"GoodStepsOut", {good}}, {"SkippedStepsOut", {skipped}}};
  update.attrs = scaling_attrs;
  update.role = kRoleOptimize;

  std::vector<Op> ops;
  ops.reserve(main.ops.size() - (last - first + 1) + 3);
  for (size_t i = 0; i < first; ++i) ops.push_back(std::move(main.ops[i]));
  ops.push_back(std::move(check));
  ops.push_back(std::move(run));
  ops.push_back(std::move(update));
  for (size_t i = last + 1; i < main.ops.size(); ++i) ops.push_back(std::move(main.ops[i]));
  main.ops = std::move(ops);
  return absl::OkStatus();
}

class AmpPass final : public Pass {
 public:
  std::string_view name() const override { return "amp"; }
  std::string_view description() const override {
    return "mixed precision (strategy.amp): GEMMs and convolutions in f16 or bf16 between "
           "casts; for f16, loss scaling and updates skipped when the gradients overflow (after "
           "optimizer)";
  }

  // A whole-program pass on the main block, where training happens.
  absl::StatusOr<bool> Run(Program& program, PassContext& ctx) override {
    if (ctx.strategy() == nullptr) {
      return absl::InvalidArgumentError("no strategy: the amp pass reads strategy.amp (--amp)");
    }
    const proto::AmpConfig& config = ctx.strategy()->amp();
    if (config.dtype() == proto::AmpConfig::OFF) return false;
    if (!program.meta.IsTraining()) {
      return absl::FailedPreconditionError(
          "pass 'amp' needs a training program; run it after loss, autodiff and optimizer");
    }
    Block& block = program.main();
    for (const Var& v : block.vars()) {
      if (v.name.rfind("amp@", 0) == 0) {
        return absl::FailedPreconditionError(
            absl::StrCat("var '", v.name, "' exists; the program already is mixed precision"));
      }
    }
    const bool fp16 = config.dtype() == proto::AmpConfig::FP16;
    const DataType half = fp16 ? DataType::kF16 : DataType::kBF16;
    const int lowered = LowerPrecision(block, half);
    if (!fp16) {
      ctx.Note(absl::StrCat(lowered, " GEMMs and convolutions in bf16"));
      return true;
    }

    const std::string scale = kAmpLossScaleVar;
    const std::string good = "amp@good_steps";
    const std::string skipped = kAmpSkippedStepsVar;
    const std::string finite = "amp@all_finite";
    block.AddVar(ScalarState(scale, DataType::kF32));
    block.AddVar(ScalarState(good, DataType::kI64));
    block.AddVar(ScalarState(skipped, DataType::kI64));
    Var flag = ScalarState(finite, DataType::kBool);
    flag.flags = 0;
    block.AddVar(flag);
    FLEET_RETURN_IF_ERROR(ScaleLossGradient(block, program.meta.training.loss, scale));
    AttrMap scaling;
    scaling["init_scale"] =
        AttrValue(config.init_loss_scale() > 0 ? static_cast<float>(config.init_loss_scale())
                                               : kDefaultInitLossScale);
    scaling["incr_every_n_steps"] = AttrValue(
        config.incr_every_n_steps() > 0 ? config.incr_every_n_steps() : kDefaultGrowthInterval);
    FLEET_RETURN_IF_ERROR(GuardUpdates(program, scale, good, skipped, finite, scaling));
    ctx.Note(absl::StrCat(lowered, " GEMMs and convolutions in f16; loss scale from ",
                          std::get<float>(scaling["init_scale"])));
    return true;
  }
};

}  // namespace

std::unique_ptr<Pass> CreateAmpPass() { return std::make_unique<AmpPass>(); }

}  // namespace fleet
