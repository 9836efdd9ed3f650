#include "ir/grad_builder.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace fleet {
namespace {

const std::string& Empty() {
  static const std::string* empty = new std::string();
  return *empty;
}

}  // namespace

std::string GradVarName(std::string_view var) { return absl::StrCat(std::string(var), "@GRAD"); }

std::string FreshVarName(const Block& block, std::string_view base) {
  std::string name(base);
  if (block.FindVar(name) == nullptr) return name;
  for (int i = 1;; ++i) {
    name = absl::StrCat(std::string(base), "_", i);
    if (block.FindVar(name) == nullptr) return name;
  }
}

GradBuilder::GradBuilder(const Op& op, Block& block,
                         const std::map<std::string, std::string>& output_grads,
                         const std::set<std::string>& needs_grad, InputGradNamer namer)
    : op_(op),
      block_(block),
      output_grads_(output_grads),
      needs_grad_(needs_grad),
      namer_(std::move(namer)) {}

const std::vector<std::string>* GradBuilder::SlotVars(const std::vector<Slot>& slots,
                                                      std::string_view slot) const {
  for (const Slot& s : slots) {
    if (s.name == slot) return &s.vars;
  }
  return nullptr;
}

const std::string& GradBuilder::Input(std::string_view slot, int i) const {
  const auto* vars = SlotVars(op_.inputs, slot);
  if (vars == nullptr || i < 0 || i >= static_cast<int>(vars->size())) return Empty();
  return (*vars)[i];
}

const std::string& GradBuilder::Output(std::string_view slot, int i) const {
  const auto* vars = SlotVars(op_.outputs, slot);
  if (vars == nullptr || i < 0 || i >= static_cast<int>(vars->size())) return Empty();
  return (*vars)[i];
}

int GradBuilder::NumInputs(std::string_view slot) const {
  const auto* vars = SlotVars(op_.inputs, slot);
  return vars == nullptr ? 0 : static_cast<int>(vars->size());
}

const Var* GradBuilder::InputVar(std::string_view slot, int i) const {
  const std::string& name = Input(slot, i);
  return name.empty() ? nullptr : block_.FindVar(name);
}

const Var* GradBuilder::OutputVar(std::string_view slot, int i) const {
  const std::string& name = Output(slot, i);
  return name.empty() ? nullptr : block_.FindVar(name);
}

std::string GradBuilder::OutputGrad(std::string_view slot, int i) const {
  const std::string& name = Output(slot, i);
  if (name.empty()) return "";
  auto it = output_grads_.find(name);
  return it == output_grads_.end() ? "" : it->second;
}

std::string GradBuilder::OutputGradOrZeros(std::string_view slot, int i) {
  std::string grad = OutputGrad(slot, i);
  if (!grad.empty()) return grad;
  const std::string& out = Output(slot, i);
  std::string zeros = TempLike(absl::StrCat(out, "@GRAD@zeros"), out);
  Emit("fleet.fill_like", {{"X", {out}}}, {{"Out", {zeros}}}, {{"value", AttrValue(0.0f)}});
  return zeros;
}

bool GradBuilder::NeedsGrad(std::string_view slot, int i) const {
  const std::string& name = Input(slot, i);
  return !name.empty() && needs_grad_.count(name) > 0;
}

std::string GradBuilder::InputGrad(std::string_view slot, int i, VarKind kind) {
  return namer_(Input(slot, i), kind);
}

std::string GradBuilder::Temp(std::string_view hint, DataType dtype,
                              std::optional<std::vector<int64_t>> shape) {
  std::string base = op_.name.empty() ? absl::StrCat(op_.type, "@grad.", std::string(hint))
                                      : absl::StrCat(op_.name, "@grad.", std::string(hint));
  Var var;
  var.name = FreshVarName(block_, base);
  var.dtype = dtype;
  var.shape = std::move(shape);
  std::string name = var.name;
  block_.AddVar(std::move(var));
  return name;
}

std::string GradBuilder::TempLike(std::string_view hint, const std::string& var) {
  const Var* v = block_.FindVar(var);
  if (v == nullptr) return Temp(hint, DataType::kUndefined);
  DataType dtype = v->dtype;
  auto shape = v->shape;
  return Temp(hint, dtype, std::move(shape));
}

Op& GradBuilder::Emit(std::string type, std::vector<Slot> inputs, std::vector<Slot> outputs,
                      AttrMap attrs) {
  Op op;
  op.type = std::move(type);
  op.inputs = std::move(inputs);
  op.outputs = std::move(outputs);
  op.attrs = std::move(attrs);
  op.role = kRoleBackward;
  op.loc = op_.loc;
  op.device = op_.device;
  block_.ops.push_back(std::move(op));
  return block_.ops.back();
}

}  // namespace fleet
