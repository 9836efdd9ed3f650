// ForwardProgram: strips the training ops off a trained program.
#include "executor/training/export.h"

#include <algorithm>
#include <map>
#include <set>
#include <string>

#include "absl/strings/str_cat.h"
#include "ir/fleet_ops.h"
#include "ir/meta_keys.h"

namespace fleet {

absl::StatusOr<Program> ForwardProgram(const Program& main, const Scope& state) {
  Program out;
  out.meta.opset = main.meta.opset;
  out.meta.producer = main.meta.producer;
  auto graph_name = main.meta.extra.find(kMetaOnnxGraph);
  if (graph_name != main.meta.extra.end()) out.meta.extra.insert(*graph_name);
  out.source = main.source;

  // Mixed precision's casts go, and the ops between them read and write the f32 vars again:
  // the exported model computes in f32, as the model given to training did.
  std::map<std::string, std::string> f32_of;
  for (const Op& op : main.main().ops) {
    if (op.name != kAmpCastOpName || !HasOnlyRole(op, kRoleForward)) continue;
    const std::string& in = op.inputs.at(0).vars.at(0);
    const std::string& cast = op.outputs.at(0).vars.at(0);
    const Var* v = main.main().FindVar(cast);
    if (v != nullptr && (v->dtype == DataType::kF16 || v->dtype == DataType::kBF16)) {
      f32_of[cast] = in;  // f32 -> f16 (bf16) before the op
    } else {
      f32_of[in] = cast;  // f16 (bf16) -> f32 after it
    }
  }
  auto f32_name = [&](std::string& name) {
    auto it = f32_of.find(name);
    if (it != f32_of.end()) name = it->second;
  };

  std::set<std::string> read, written;
  for (const Op& op : main.main().ops) {
    if (!HasOnlyRole(op, kRoleForward) || op.name == kAmpCastOpName) continue;
    Op kept = op;
    for (Slot& slot : kept.inputs) std::for_each(slot.vars.begin(), slot.vars.end(), f32_name);
    for (Slot& slot : kept.outputs) std::for_each(slot.vars.begin(), slot.vars.end(), f32_name);
    for (const std::string& v : kept.InputVars()) read.insert(v);
    for (const std::string& v : kept.OutputVars()) written.insert(v);
    out.main().ops.push_back(std::move(kept));
  }
  if (out.main().ops.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(main.source, ": the program has no forward ops to export"));
  }
  for (const Var& var : main.main().vars()) {
    const bool is_read = read.count(var.name) > 0;
    const bool is_written = written.count(var.name) > 0;
    if (!is_read && !is_written) continue;  // the label, the loss, gradients, optimizer state
    Var kept = var;
    if (kept.Has(kVarFetch) && !is_written) kept.flags &= ~static_cast<uint32_t>(kVarFetch);
    const bool needs_value = kept.Has(kVarPersistable) && !kept.Has(kVarFeed) && is_read;
    if (needs_value || main.values.count(var.name)) {
      const Tensor* t = state.Find(var.name);
      if (t != nullptr && t->defined()) {
        out.values[var.name] = t->ToValue();
      } else if (needs_value) {
        return absl::FailedPreconditionError(
            absl::StrCat("export: the trained value of '", var.name, "' is missing"));
      }
    }
    out.main().AddVar(std::move(kept));
  }
  return out;
}

}  // namespace fleet
