// The op-subgraph matcher and the def-use index behind it.
#include "passes/pattern.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"

namespace fleet {

const Var* FindVisibleVar(const Program& program, int block, std::string_view name) {
  int b = DeclaringBlock(program, block, name);
  return b < 0 ? nullptr : program.blocks[b].FindVar(name);
}

Var* FindVisibleVar(Program& program, int block, std::string_view name) {
  int b = DeclaringBlock(program, block, name);
  return b < 0 ? nullptr : program.blocks[b].FindVar(name);
}

int DeclaringBlock(const Program& program, int block, std::string_view name) {
  // Parents have smaller indices (the verifier checks it), so this walk ends.
  for (int b = block; b >= 0 && b < static_cast<int>(program.blocks.size());
       b = program.blocks[b].parent()) {
    if (program.blocks[b].FindVar(name) != nullptr) return b;
    if (program.blocks[b].parent() >= b) break;
  }
  return -1;
}

UseIndex::UseIndex(const Program& program, int block) : program_(&program), block_(block) {
  const Block& b = program.blocks[block];
  for (int i = 0; i < static_cast<int>(b.ops.size()); ++i) {
    for (const std::string& v : b.ops[i].InputVars()) readers_[v].push_back(i);
    for (const std::string& v : b.ops[i].OutputVars()) writers_[v].push_back(i);
  }
  // Sub-blocks (at any depth) read their ancestors' vars; other blocks may read the vars of
  // blocks enclosing this one.
  for (const Block& other : program.blocks) {
    if (other.index() == block) continue;
    int p = other.parent();
    bool descendant = false;
    while (p >= 0 && !descendant) {
      descendant = p == block;
      p = program.blocks[p].parent();
    }
    std::map<std::string, int>& reads = descendant ? sub_block_reads_ : outside_reads_;
    for (const Op& op : other.ops) {
      for (const std::string& v : op.InputVars()) ++reads[v];
    }
  }
}

int UseIndex::ProducerBefore(const std::string& var, int before) const {
  auto it = writers_.find(var);
  if (it == writers_.end()) return -1;
  int found = -1;
  for (int w : it->second) {
    if (w < before) found = w;
  }
  return found;
}

const std::vector<int>& UseIndex::Readers(const std::string& var) const {
  static const std::vector<int> kNone;
  auto it = readers_.find(var);
  return it == readers_.end() ? kNone : it->second;
}

int UseIndex::SubBlockReads(const std::string& var) const {
  auto it = sub_block_reads_.find(var);
  return it == sub_block_reads_.end() ? 0 : it->second;
}

int UseIndex::OutsideReads(const std::string& var) const {
  auto it = outside_reads_.find(var);
  return it == outside_reads_.end() ? 0 : it->second;
}

int UseIndex::NumUses(const std::string& var) const {
  return static_cast<int>(Readers(var).size()) + SubBlockReads(var) + OutsideReads(var);
}

bool UseIndex::IsSingleUse(const std::string& var) const { return WhyNotSingleUse(var).empty(); }

std::string UseIndex::WhyNotSingleUse(const std::string& var) const {
  auto w = writers_.find(var);
  size_t writers = w == writers_.end() ? 0 : w->second.size();
  if (writers != 1) return absl::StrCat("has ", writers, " writers in this block");
  const Var* v = FindVisibleVar(*program_, block_, var);
  if (v != nullptr && v->Has(kVarFetch)) return "is fetched";
  if (v != nullptr && v->Has(kVarPersistable)) return "is persistable";
  int uses = NumUses(var);
  if (uses != 1) return absl::StrCat("has ", uses, " readers");
  return "";
}

OpPattern& OpPattern::Bind(std::string name) {
  bind_ = std::move(name);
  return *this;
}

OpPattern& OpPattern::Input(std::string slot, OpPattern producer, std::string var_capture) {
  inputs_.push_back({std::move(slot), {std::move(producer)}, std::move(var_capture)});
  return *this;
}

OpPattern& OpPattern::InputVar(std::string slot, std::string var_capture) {
  inputs_.push_back({std::move(slot), {}, std::move(var_capture)});
  return *this;
}

OpPattern& OpPattern::SingleUse() {
  single_use_ = true;
  return *this;
}

OpPattern& OpPattern::Commutative() {
  commutative_ = true;
  return *this;
}

class PatternMatcher {
 public:
  PatternMatcher(const Block& block, const UseIndex& uses) : block_(block), uses_(uses) {}

  // Matches `p` at op `index`, adding captures to `m`; on failure sets `why` (when empty).
  bool Match(const OpPattern& p, int index, PatternMatch& m, std::string& why) const {
    const Op& op = block_.ops[index];
    if (op.type != p.type_) {
      why = absl::StrCat("expected ", p.type_, ", found ", op.type);
      return false;
    }
    if (p.single_use_) {
      for (const std::string& out : op.OutputVars()) {
        std::string not_single = uses_.WhyNotSingleUse(out);
        if (!not_single.empty()) {
          why = absl::StrCat(op.type, " output '", out, "' ", not_single,
                             "; expected one reader and no other use");
          return false;
        }
      }
    }
    if (!MatchInputs(p, p.inputs_, index, m, why)) {
      if (!p.commutative_ || p.inputs_.size() != 2) return false;
      std::vector<OpPattern::InputConstraint> swapped = p.inputs_;
      std::swap(swapped[0].slot, swapped[1].slot);
      std::string why_swapped;
      if (!MatchInputs(p, swapped, index, m, why_swapped)) return false;
      why.clear();
    }
    if (!p.bind_.empty()) m.ops[p.bind_] = index;
    return true;
  }

 private:
  bool MatchInputs(const OpPattern& p, const std::vector<OpPattern::InputConstraint>& inputs,
                   int index, PatternMatch& m, std::string& why) const {
    (void)p;
    const Op& op = block_.ops[index];
    PatternMatch trial = m;
    for (const auto& c : inputs) {
      const Slot* slot = op.FindInput(c.slot);
      if (slot == nullptr || slot->vars.size() != 1 || slot->vars[0].empty()) {
        why = absl::StrCat(op.type, " input '", c.slot, "' is absent or not a single var");
        return false;
      }
      const std::string& var = slot->vars[0];
      if (!c.var_capture.empty()) trial.vars[c.var_capture] = var;
      if (c.producer.empty()) continue;
      int producer = uses_.ProducerBefore(var, index);
      if (producer < 0) {
        why =
            absl::StrCat(op.type, " input '", c.slot, "' (", var,
                         ") is not written by an op of this block; expected ", c.producer[0].type_);
        return false;
      }
      std::string inner;
      if (!Match(c.producer[0], producer, trial, inner)) {
        why = absl::StrCat(op.type, " input '", c.slot, "' (", var, "): ", inner);
        return false;
      }
    }
    m = std::move(trial);
    return true;
  }

  const Block& block_;
  const UseIndex& uses_;
};

std::optional<PatternMatch> MatchAt(const Block& block, const UseIndex& uses, int op_index,
                                    const OpPattern& pattern, std::string* why_not) {
  if (op_index < 0 || op_index >= static_cast<int>(block.ops.size())) return std::nullopt;
  PatternMatch m;
  std::string why;
  if (!PatternMatcher(block, uses).Match(pattern, op_index, m, why)) {
    if (why_not != nullptr && block.ops[op_index].type == pattern.type()) *why_not = why;
    return std::nullopt;
  }
  m.root = op_index;
  return m;
}

std::vector<PatternMatch> FindMatches(const Block& block, const UseIndex& uses,
                                      const OpPattern& pattern) {
  std::vector<PatternMatch> matches;
  std::vector<bool> taken(block.ops.size(), false);
  for (int i = 0; i < static_cast<int>(block.ops.size()); ++i) {
    std::optional<PatternMatch> m = MatchAt(block, uses, i, pattern);
    if (!m) continue;
    bool overlaps = taken[i];
    for (const auto& [name, index] : m->ops) overlaps |= taken[index];
    if (overlaps) continue;
    taken[i] = true;
    for (const auto& [name, index] : m->ops) taken[index] = true;
    matches.push_back(std::move(*m));
  }
  return matches;
}

void EraseOps(Block& block, std::vector<int> indices) {
  std::sort(indices.begin(), indices.end());
  indices.erase(std::unique(indices.begin(), indices.end()), indices.end());
  std::vector<Op> kept;
  kept.reserve(block.ops.size());
  size_t next = 0;
  for (int i = 0; i < static_cast<int>(block.ops.size()); ++i) {
    if (next < indices.size() && indices[next] == i) {
      ++next;
      continue;
    }
    kept.push_back(std::move(block.ops[i]));
  }
  block.ops = std::move(kept);
}

}  // namespace fleet
