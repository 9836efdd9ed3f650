#include "executor/scope.h"

#include <memory>

namespace fleet {

const Tensor* Scope::Find(std::string_view name) const {
  for (const Scope* s = this; s != nullptr; s = s->parent_) {
    auto it = s->vars_.find(name);
    if (it != s->vars_.end()) return &it->second;
  }
  return nullptr;
}

Tensor* Scope::FindLocal(std::string_view name) {
  auto it = vars_.find(name);
  return it == vars_.end() ? nullptr : &it->second;
}

bool Scope::Erase(std::string_view name) {
  auto it = vars_.find(name);
  if (it == vars_.end()) return false;
  vars_.erase(it);
  return true;
}

std::vector<std::string> Scope::LocalNames() const {
  std::vector<std::string> out;
  for (const auto& [name, t] : vars_) out.push_back(name);
  return out;
}

void MoveValuesIntoScope(Program& program, Scope& scope) {
  for (auto& [name, value] : program.values) {
    if (value.bytes.empty() && value.NumElements() != 0) continue;  // already moved
    auto bytes = std::make_shared<std::string>(std::move(value.bytes));
    value.bytes = std::string();
    auto buffer = Buffer::Wrap(bytes->data(), bytes->size(), [bytes] {});
    scope.Set(name, Tensor(value.dtype, value.shape, std::move(buffer)));
  }
}

}  // namespace fleet
