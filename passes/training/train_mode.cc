#include "passes/training/train_mode.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "ir/grad_builder.h"

namespace fleet {
namespace {

// The var named by input / output slot `slot` of `op`, or "".
std::string SlotVar(const std::vector<Slot>& slots, std::string_view slot) {
  for (const Slot& s : slots) {
    if (s.name == slot && !s.vars.empty()) return s.vars[0];
  }
  return "";
}

// Declares a per-channel statistic var like `like` (the scale) named after `base`.
std::string DeclareStat(Block& block, const std::string& base, const Var& like) {
  Var v = like;
  v.name = FreshVarName(block, base);
  v.flags = 0;
  v.kind = VarKind::kDense;
  block.AddVar(v);
  return v.name;
}

}  // namespace

absl::Status RewriteForTraining(Program& program, PassContext& ctx) {
  Block& block = program.main();
  std::vector<Op> ops;
  ops.reserve(block.ops.size());
  int rewritten = 0;
  for (Op& op : block.ops) {
    if (op.type != "BatchNormalization") {
      ops.push_back(std::move(op));
      continue;
    }
    const std::string x = SlotVar(op.inputs, "X");
    const std::string scale = SlotVar(op.inputs, "scale");
    const std::string bias = SlotVar(op.inputs, "B");
    const std::string mean = SlotVar(op.inputs, "input_mean");
    const std::string var = SlotVar(op.inputs, "input_var");
    const std::string y = SlotVar(op.outputs, "Y");
    for (const std::string* stat : {&mean, &var}) {
      const Var* v = block.FindVar(*stat);
      if (v == nullptr || !(v->Has(kVarPersistable) || program.values.count(*stat))) {
        return absl::InvalidArgumentError(
            absl::StrCat(op.Describe(), ": running statistic '", *stat,
                         "' is not a persistable var; training updates it in place"));
      }
    }
    const Var* scale_var = block.FindVar(scale);
    if (scale_var == nullptr || y.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(op.Describe(), ": needs a declared 'scale' input and a 'Y' output"));
    }
    block.FindVar(mean)->flags |= kVarPersistable;
    block.FindVar(var)->flags |= kVarPersistable;
    const Var scale_copy = *scale_var;
    const std::string saved_mean = DeclareStat(block, y + ".saved_mean", scale_copy);
    const std::string saved_inv_std = DeclareStat(block, y + ".saved_inv_std", scale_copy);
    const std::string mean_copy = SlotVar(op.outputs, "running_mean");
    const std::string var_copy = SlotVar(op.outputs, "running_var");

    Op train = op;
    train.type = "fleet.batch_norm_train";
    train.inputs = {{"X", {x}},
                    {"Scale", {scale}},
                    {"B", {bias}},
                    {"RunningMean", {mean}},
                    {"RunningVar", {var}}};
    train.outputs = {{"Y", {y}},
                     {"RunningMeanOut", {mean}},
                     {"RunningVarOut", {var}},
                     {"SavedMean", {saved_mean}},
                     {"SavedInvStd", {saved_inv_std}}};
    train.attrs.clear();
    for (const char* attr : {"epsilon", "momentum"}) {
      auto it = op.attrs.find(attr);
      if (it != op.attrs.end()) train.attrs[attr] = it->second;
    }
    ops.push_back(train);
    for (const auto& [from, to] :
         {std::make_pair(mean, mean_copy), std::make_pair(var, var_copy)}) {
      if (to.empty() || to == from) continue;
      Op copy;
      copy.type = "Identity";
      copy.inputs = {{"input", {from}}};
      copy.outputs = {{"output", {to}}};
      copy.role = op.role;
      copy.loc = op.loc;
      ops.push_back(std::move(copy));
    }
    ++rewritten;
  }
  block.ops = std::move(ops);
  if (rewritten > 0) {
    ctx.Note(absl::StrCat(rewritten, " BatchNormalization ops use batch statistics"));
  }
  return absl::OkStatus();
}

}  // namespace fleet
