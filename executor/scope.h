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
#include "ir/program.h"

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

// Moves every initial value of `program` into `scope` as a tensor, without copying the bytes
// (large models would otherwise be held twice). The program keeps each value's dtype and shape
// with empty bytes, so executors must then run with this scope (or a child of it).
void MoveValuesIntoScope(Program& program, Scope& scope);

}  // namespace fleet
