// ForwardProgram: strips the training ops off a trained program.
#include "executor/training/export.h"

#include <set>
#include <string>

#include "absl/strings/str_cat.h"
#include "ir/meta_keys.h"

namespace fleet {

absl::StatusOr<Program> ForwardProgram(const Program& main, const Scope& state) {
  Program out;
  out.meta.opset = main.meta.opset;
  out.meta.producer = main.meta.producer;
  auto graph_name = main.meta.extra.find(kMetaOnnxGraph);
  if (graph_name != main.meta.extra.end()) out.meta.extra.insert(*graph_name);
  out.source = main.source;

  std::set<std::string> read, written;
  for (const Op& op : main.main().ops) {
    if (!HasOnlyRole(op, kRoleForward)) continue;
    for (const std::string& v : op.InputVars()) read.insert(v);
    for (const std::string& v : op.OutputVars()) written.insert(v);
    out.main().ops.push_back(op);
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
