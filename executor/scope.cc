#include "executor/scope.h"

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

}  // namespace fleet
