// Scope: named tensors that live across runs (parameters, feeds, fetched results).
//
// A scope may have a parent; lookups fall through to it, writes stay local. Not thread-safe:
// one thread writes a scope at a time (Hogwild training shares a parent scope of parameters
// whose tensors threads update in place).
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "executor/tensor.h"

namespace fleet {

class Scope {
 public:
  explicit Scope(const Scope* parent = nullptr) : parent_(parent) {}

  // The tensor named `name` here or in an ancestor, or nullptr.
  const Tensor* Find(std::string_view name) const;
  // The tensor named `name` in this scope only, or nullptr.
  Tensor* FindLocal(std::string_view name);
  // Sets (or replaces) a tensor in this scope.
  void Set(const std::string& name, Tensor tensor) { vars_[name] = std::move(tensor); }
  bool Erase(std::string_view name);
  // Names held in this scope, sorted.
  std::vector<std::string> LocalNames() const;

 private:
  const Scope* parent_;
  std::map<std::string, Tensor, std::less<>> vars_;
};

}  // namespace fleet
