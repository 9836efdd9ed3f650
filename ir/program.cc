#include "ir/program.h"

#include "absl/strings/str_cat.h"

namespace fleet {

std::string Location::ToString() const {
  if (!file.empty() && line > 0) return absl::StrCat(file, ":", line, ":", col);
  if (!node.empty()) {
    return file.empty() ? absl::StrCat("node '", node, "'")
                        : absl::StrCat(file, ": node '", node, "'");
  }
  return file;
}

namespace {
const Slot* FindSlot(const std::vector<Slot>& slots, std::string_view name) {
  for (const Slot& s : slots) {
    if (s.name == name) return &s;
  }
  return nullptr;
}
std::vector<std::string> Flatten(const std::vector<Slot>& slots) {
  std::vector<std::string> out;
  for (const Slot& s : slots) {
    for (const std::string& v : s.vars) {
      if (!v.empty()) out.push_back(v);
    }
  }
  return out;
}
}  // namespace

const Slot* Op::FindInput(std::string_view slot) const { return FindSlot(inputs, slot); }
const Slot* Op::FindOutput(std::string_view slot) const { return FindSlot(outputs, slot); }
std::vector<std::string> Op::InputVars() const { return Flatten(inputs); }
std::vector<std::string> Op::OutputVars() const { return Flatten(outputs); }

std::string Op::Describe() const {
  std::string where = loc.ToString();
  std::string what = name.empty() ? absl::StrCat("op (", type, ")")
                                  : absl::StrCat("op '", name, "' (", type, ")");
  if (where.empty() || (!loc.node.empty() && loc.node == name && loc.line == 0)) {
    return loc.file.empty() ? what : absl::StrCat(loc.file, ": ", what);
  }
  return absl::StrCat(where, ": ", what);
}

const Var* Block::FindVar(std::string_view name) const {
  auto it = var_index_.find(std::string(name));
  return it == var_index_.end() ? nullptr : &vars_[it->second];
}

Var* Block::FindVar(std::string_view name) {
  auto it = var_index_.find(std::string(name));
  return it == var_index_.end() ? nullptr : &vars_[it->second];
}

bool Block::AddVar(Var var) {
  if (var_index_.count(var.name)) return false;
  var_index_.emplace(var.name, vars_.size());
  vars_.push_back(std::move(var));
  return true;
}

bool Block::RemoveVar(std::string_view name) {
  auto it = var_index_.find(std::string(name));
  if (it == var_index_.end()) return false;
  vars_.erase(vars_.begin() + static_cast<std::ptrdiff_t>(it->second));
  Reindex();
  return true;
}

void Block::Reindex() {
  var_index_.clear();
  for (size_t i = 0; i < vars_.size(); ++i) var_index_.emplace(vars_[i].name, i);
}

int Program::AddBlock(int parent) {
  int index = static_cast<int>(blocks.size());
  blocks.emplace_back(index, parent);
  return index;
}

const Var* FindVisibleVar(const Program& program, const Block& block, std::string_view name) {
  for (const Block* b = &block; b != nullptr;
       b = b->parent() >= 0 ? &program.blocks[b->parent()] : nullptr) {
    if (const Var* v = b->FindVar(name)) return v;
  }
  return nullptr;
}

}  // namespace fleet
