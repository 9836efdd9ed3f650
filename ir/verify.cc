#include "ir/verify.h"

#include <set>
#include <string>

#include "absl/strings/str_cat.h"
#include "ir/device.h"
#include "ir/op_schema.h"
#include "ir/status_macros.h"
#include "ir/verify_shapes.h"
#include "ir/verify_roles.h"

namespace fleet {
namespace {

absl::Status OpError(const Program& program, const Op& op, const std::string& message) {
  std::string where = op.Describe();
  if (op.loc.file.empty() && !program.source.empty()) where = program.source + ": " + where;
  return absl::InvalidArgumentError(absl::StrCat(where, ": ", message));
}

absl::Status CheckSlots(const Program& program, const Op& op, const std::vector<Slot>& slots,
                        const std::vector<SlotSpec>& specs, const char* kind) {
  if (slots.size() > specs.size()) {
    return OpError(program, op, absl::StrCat("has ", slots.size(), " ", kind, " slots; ", op.type,
                                             " has ", specs.size()));
  }
  for (size_t i = 0; i < specs.size(); ++i) {
    const SlotSpec& spec = specs[i];
    const Slot* slot = i < slots.size() ? &slots[i] : nullptr;
    if (slot != nullptr && slot->name != spec.name) {
      return OpError(program, op, absl::StrCat(kind, " slot ", i, " is named '", slot->name,
                                               "'; expected '", spec.name, "'"));
    }
    size_t n = 0;
    if (slot != nullptr) {
      for (const std::string& v : slot->vars) n += v.empty() ? 0 : 1;
    }
    bool required = spec.arity == SlotArity::kSingle && std::string(kind) == "input";
    if (required && n == 0) {
      return OpError(program, op, absl::StrCat("required input '", spec.name, "' is missing"));
    }
    if (spec.arity != SlotArity::kVariadic && slot != nullptr && slot->vars.size() > 1) {
      return OpError(program, op, absl::StrCat(kind, " '", spec.name, "' takes one var; got ",
                                               slot->vars.size()));
    }
    if (spec.arity == SlotArity::kVariadic && std::string(kind) == "input" &&
        static_cast<int>(n) < spec.min_arity) {
      return OpError(program, op, absl::StrCat("input '", spec.name, "' needs at least ",
                                               spec.min_arity, " vars; got ", n));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckAttrs(const Program& program, const Op& op, const OpSchema& schema) {
  for (const auto& [name, value] : op.attrs) {
    const AttrSpec* spec = schema.FindAttr(name);
    if (spec == nullptr) {
      return OpError(program, op, absl::StrCat("unknown attribute '", name, "'"));
    }
    if (TypeOf(value) != spec->type) {
      return OpError(program, op, absl::StrCat("attribute '", name, "' is ",
                                               AttrTypeName(TypeOf(value)), "; expected ",
                                               AttrTypeName(spec->type)));
    }
    if (const BlockRef* ref = std::get_if<BlockRef>(&value)) {
      if (ref->index <= 0 || ref->index >= static_cast<int>(program.blocks.size())) {
        return OpError(program, op, absl::StrCat("attribute '", name, "' refers to block ",
                                                 ref->index, ", which does not exist"));
      }
    }
  }
  for (const auto& [name, spec] : schema.attrs) {
    if (spec.required && !op.attrs.count(name)) {
      return OpError(program, op, absl::StrCat("required attribute '", name, "' is missing"));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckTypeGroups(const Program& program, const Block& block, const Op& op,
                             const OpSchema& schema) {
  std::map<std::string, std::pair<std::string, DataType>> seen;  // group -> (slot, dtype)
  for (size_t i = 0; i < op.inputs.size() && i < schema.inputs.size(); ++i) {
    const std::string& group = schema.inputs[i].type_group;
    if (group.empty()) continue;
    for (const std::string& name : op.inputs[i].vars) {
      const Var* var = name.empty() ? nullptr : FindVisibleVar(program, block, name);
      if (var == nullptr || var->dtype == DataType::kUndefined) continue;
      auto [it, inserted] = seen.emplace(group, std::make_pair(op.inputs[i].name, var->dtype));
      if (!inserted && it->second.second != var->dtype) {
        return OpError(program, op,
                       absl::StrCat("inputs '", it->second.first, "' (",
                                    DataTypeName(it->second.second), ") and '",
                                    op.inputs[i].name, "' (", DataTypeName(var->dtype),
                                    ") must have the same dtype (", group, ")"));
      }
    }
  }
  return absl::OkStatus();
}

absl::Status VerifyBlock(const Program& program, const Block& block,
                         std::set<std::string> written) {
  for (const Var& v : block.vars()) {
    if (v.Has(kVarFeed) || v.Has(kVarPersistable) || program.values.count(v.name)) {
      written.insert(v.name);
    }
  }
  for (const Op& op : block.ops) {
    const OpSchema* schema = FindOpSchema(op.type);
    if (schema == nullptr) {
      return absl::NotFoundError(absl::StrCat(
          op.Describe(), ": unknown op type '", op.type, "'"));
    }
    FLEET_RETURN_IF_ERROR(CheckSlots(program, op, op.inputs, schema->inputs, "input"));
    FLEET_RETURN_IF_ERROR(CheckSlots(program, op, op.outputs, schema->outputs, "output"));
    FLEET_RETURN_IF_ERROR(CheckAttrs(program, op, *schema));
    if (!op.device.empty()) {
      absl::StatusOr<DeviceId> device = ParseDeviceId(op.device);
      if (!device.ok()) return OpError(program, op, std::string(device.status().message()));
    }
    for (const Slot& slot : op.inputs) {
      for (const std::string& name : slot.vars) {
        if (name.empty()) continue;
        if (FindVisibleVar(program, block, name) == nullptr) {
          return OpError(program, op, absl::StrCat("input '", slot.name, "' names '", name,
                                                   "', which is not declared"));
        }
        if (!written.count(name)) {
          return OpError(program, op,
                         absl::StrCat("input '", slot.name, "' reads '", name,
                                      "' before any op writes it (dangling input or cycle)"));
        }
      }
    }
    FLEET_RETURN_IF_ERROR(CheckTypeGroups(program, block, op, *schema));
    for (const Slot& slot : op.outputs) {
      for (const std::string& name : slot.vars) {
        if (name.empty()) continue;
        if (FindVisibleVar(program, block, name) == nullptr) {
          return OpError(program, op, absl::StrCat("output '", slot.name, "' names '", name,
                                                   "', which is not declared"));
        }
        written.insert(name);
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status Verify(const Program& program) {
  if (program.blocks.empty()) return absl::InvalidArgumentError("program has no blocks");
  for (size_t i = 0; i < program.blocks.size(); ++i) {
    const Block& b = program.blocks[i];
    if (b.index() != static_cast<int>(i)) {
      return absl::InvalidArgumentError(
          absl::StrCat("block at position ", i, " has index ", b.index()));
    }
    if ((i == 0 && b.parent() != -1) || (i > 0 && (b.parent() < 0 || b.parent() >= b.index()))) {
      return absl::InvalidArgumentError(
          absl::StrCat("block ", i, " has invalid parent ", b.parent()));
    }
  }
  // Sub-blocks run inside their parent's scope: everything the parent declares is readable.
  std::vector<std::set<std::string>> visible(program.blocks.size());
  for (size_t i = 0; i < program.blocks.size(); ++i) {
    const Block& b = program.blocks[i];
    std::set<std::string> inherited = b.parent() >= 0 ? visible[b.parent()] : std::set<std::string>{};
    FLEET_RETURN_IF_ERROR(VerifyBlock(program, b, inherited));
    for (const Var& v : b.vars()) inherited.insert(v.name);
    visible[i] = std::move(inherited);
  }
  FLEET_RETURN_IF_ERROR(VerifyShapes(program));
  return VerifyRoles(program);
}

}  // namespace fleet
