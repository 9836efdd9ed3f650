// dce: dead code elimination.
//
//   %t = Relu(%x)          # %t never read, not fetched, not persistable
//   %y = Sigmoid(%x)       # %y fetched
//     ==>
//   %y = Sigmoid(%x)       # and `var %t` is gone
//
// An op is dead when none of its outputs is read by a live op (in its block or a sub-block),
// fetched, or persistable, and its schema has no side-effect or communication trait; ops that
// refer to sub-blocks and ops of unknown type are always kept. Removal runs to a fixed point
// (one backward sweep per block suffices, sub-blocks first since they keep parent vars alive).
// Afterwards vars no op mentions are removed unless they are feed, fetch or persistable; an
// initial value in Program::values goes with its var when no other block declares that name.
#include <memory>
#include <set>
#include <string>
#include <variant>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "ir/op_schema.h"
#include "passes/builtin_passes.h"
#include "passes/pattern.h"

namespace fleet {
namespace {

// Why `op` must stay regardless of its outputs, or "" when it may go.
std::string KeepReason(const Op& op) {
  const OpSchema* schema = FindOpSchema(op.type);
  if (schema == nullptr) return "unknown op type";
  if (schema->traits & kTraitSideEffect) return "has side effects";
  if (schema->traits & kTraitCommunication) return "communicates";
  for (const auto& [name, value] : op.attrs) {
    if (std::holds_alternative<BlockRef>(value)) return "refers to a sub-block";
  }
  return "";
}

// Block indices ordered so that every block comes after all of its descendants.
std::vector<int> ChildrenFirst(const Program& program) {
  std::vector<int> order;
  for (int i = static_cast<int>(program.blocks.size()) - 1; i >= 0; --i) order.push_back(i);
  return order;  // parents have smaller indices than their children (the verifier checks it)
}

class DcePass final : public Pass {
 public:
  std::string_view name() const override { return "dce"; }
  std::string_view description() const override {
    return "removes ops whose results are never used, and vars no op mentions";
  }

  absl::StatusOr<bool> Run(Program& program, PassContext& ctx) override {
    bool changed = false;
    // Names read by ops of each block after DCE, so parents keep what children read.
    std::vector<std::set<std::string>> reads(program.blocks.size());
    for (int b : ChildrenFirst(program)) {
      Block& block = program.blocks[b];
      std::set<std::string> live;
      for (size_t sub = 0; sub < program.blocks.size(); ++sub) {
        if (IsDescendant(program, static_cast<int>(sub), b)) {
          live.insert(reads[sub].begin(), reads[sub].end());
        }
      }
      std::vector<int> dead;
      for (int i = static_cast<int>(block.ops.size()) - 1; i >= 0; --i) {
        const Op& op = block.ops[i];
        std::vector<std::string> outs = op.OutputVars();
        bool needed = false;
        for (const std::string& o : outs) {
          const Var* v = block.FindVar(o);
          needed |=
              live.count(o) > 0 || v == nullptr || v->Has(kVarFetch) || v->Has(kVarPersistable);
        }
        std::string keep = KeepReason(op);
        if (!needed && !keep.empty()) {
          ctx.Skip(op, absl::StrCat("kept although its results are unused: ", keep));
          needed = true;
        }
        if (!needed) {
          dead.push_back(i);
          continue;
        }
        // A write never ends a var's liveness (a var may be written twice): this may keep a
        // dead earlier write, but never drops a needed one.
        for (const std::string& in : op.InputVars()) live.insert(in);
      }
      if (!dead.empty()) {
        EraseOps(block, dead);
        changed = true;
      }
      for (const Op& op : block.ops) {
        for (const std::string& in : op.InputVars()) reads[b].insert(in);
      }
      for (size_t sub = 0; sub < program.blocks.size(); ++sub) {
        if (IsDescendant(program, static_cast<int>(sub), b)) {
          reads[b].insert(reads[sub].begin(), reads[sub].end());
        }
      }
      changed |= RemoveUnusedVars(program, b, reads[b]);
    }
    return changed;
  }

 private:
  static bool IsDescendant(const Program& program, int block, int ancestor) {
    for (int p = program.blocks[block].parent(); p >= 0; p = program.blocks[p].parent()) {
      if (p == ancestor) return true;
    }
    return false;
  }

  // `read`: vars read by ops of block `b` or its sub-blocks.
  static bool RemoveUnusedVars(Program& program, int b, const std::set<std::string>& read) {
    Block& block = program.blocks[b];
    std::set<std::string> mentioned = read;
    for (const Op& op : block.ops) {
      for (const std::string& out : op.OutputVars()) mentioned.insert(out);
    }
    std::vector<std::string> unused;
    for (const Var& v : block.vars()) {
      if (mentioned.count(v.name) || v.Has(kVarFeed) || v.Has(kVarFetch) ||
          v.Has(kVarPersistable)) {
        continue;
      }
      unused.push_back(v.name);
    }
    for (const std::string& name : unused) {
      block.RemoveVar(name);
      bool declared_elsewhere = false;
      for (const Block& other : program.blocks) {
        declared_elsewhere |= other.FindVar(name) != nullptr;
      }
      if (!declared_elsewhere) program.values.erase(name);
    }
    return !unused.empty();
  }
};

}  // namespace

std::unique_ptr<Pass> CreateDcePass() { return std::make_unique<DcePass>(); }

}  // namespace fleet
