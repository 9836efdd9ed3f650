// A small matcher for op subgraphs, and the def-use facts passes need to rewrite safely.
//
// A pattern is a tree rooted at one op: its type, and for chosen input slots either the
// pattern of the op that produces that input or just a name to capture the var under.
//
//   // %y = MatMul(%a, %w); %z = Add(%y, %b)      (Add either way round)
//   OpPattern pattern = OpPattern("Add").Bind("add").Commutative()
//       .Input("A", OpPattern("MatMul").Bind("matmul").SingleUse()
//                       .InputVar("A", "a").InputVar("B", "w"))
//       .InputVar("B", "bias");
//   UseIndex uses(program, /*block=*/0);
//   for (const PatternMatch& m : FindMatches(program.main(), uses, pattern)) {
//     const Op& matmul = program.main().ops[m.ops.at("matmul")];
//     const std::string& bias = m.vars.at("bias");
//     ...
//   }
//
// Matching is structural only (types, producers, single use); checks of shapes and dtypes
// belong to the pass, which reports the matches it skips through PassContext::Skip.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ir/program.h"

namespace fleet {

// The var `name` as block `block` of `program` sees it: declared in that block or the nearest
// enclosing one; nullptr when none declares it.
const Var* FindVisibleVar(const Program& program, int block, std::string_view name);
Var* FindVisibleVar(Program& program, int block, std::string_view name);
// The index of the block FindVisibleVar finds `name` in, or -1.
int DeclaringBlock(const Program& program, int block, std::string_view name);

// Who writes and who reads each var of one block. Reads from sub-blocks (which see their
// parent's vars) count as uses, and so do reads from any other block of the program (a var of
// an enclosing block may be read there), so that a rewrite inside a sub-block stays safe.
// Build it after the last edit; it does not follow changes. `program` must outlive it.
class UseIndex {
 public:
  UseIndex(const Program& program, int block);

  // The op (index into the block's ops) that last writes `var` before op `before`, or -1 when
  // none does (a feed, a parameter, a var of a parent block).
  int ProducerBefore(const std::string& var, int before) const;
  // Indices of the ops of this block that read `var`, once per reading position (an op that
  // reads it twice is listed twice), in order.
  const std::vector<int>& Readers(const std::string& var) const;
  // Reads from ops of sub-blocks of this block.
  int SubBlockReads(const std::string& var) const;
  // Reads from ops of blocks that are neither this block nor its sub-blocks (always 0 for the
  // main block).
  int OutsideReads(const std::string& var) const;
  // Total reads: Readers + SubBlockReads + OutsideReads.
  int NumUses(const std::string& var) const;
  // `var` is read exactly once, is written by exactly one op, and is neither fetched nor
  // persistable (as declared in this block or an enclosing one): the value is private to its
  // one producer and one reader.
  bool IsSingleUse(const std::string& var) const;
  // "" when IsSingleUse(var); otherwise why not, e.g. "has 2 readers", "is fetched".
  std::string WhyNotSingleUse(const std::string& var) const;

 private:
  const Program* program_;
  int block_;
  std::map<std::string, std::vector<int>> writers_;
  std::map<std::string, std::vector<int>> readers_;
  std::map<std::string, int> sub_block_reads_;
  std::map<std::string, int> outside_reads_;
};

class OpPattern {
 public:
  explicit OpPattern(std::string type) : type_(std::move(type)) {}

  // Captures the matched op (its index) under `name`.
  OpPattern& Bind(std::string name);
  // Input slot `slot` must hold one var, written in this block by an op matching `producer`.
  // `var_capture`, when not empty, also captures that var.
  OpPattern& Input(std::string slot, OpPattern producer, std::string var_capture = "");
  // Input slot `slot` must hold one var (any producer); captured under `var_capture`.
  OpPattern& InputVar(std::string slot, std::string var_capture);
  // Every output of the op must be single-use (UseIndex::IsSingleUse): folding the op into
  // its reader loses nothing.
  OpPattern& SingleUse();
  // For an op with two constrained input slots (Add, Mul): also match with the two slots'
  // constraints exchanged.
  OpPattern& Commutative();

  const std::string& type() const { return type_; }

 private:
  friend class PatternMatcher;
  struct InputConstraint {
    std::string slot;
    std::vector<OpPattern> producer;  // empty or one pattern (a vector: OpPattern is incomplete)
    std::string var_capture;
  };
  std::string type_;
  std::string bind_;
  std::vector<InputConstraint> inputs_;
  bool single_use_ = false;
  bool commutative_ = false;
};

struct PatternMatch {
  int root = -1;                            // index of the root op in the block
  std::map<std::string, int> ops;           // Bind name -> op index
  std::map<std::string, std::string> vars;  // InputVar / Input capture name -> var name
};

// Matches `pattern` rooted at op `op_index` of `block`. On failure returns nullopt and, when
// `why_not` is given and the root op has the pattern's type, says which part did not match
// ("input 'A' is written by Relu; expected MatMul").
std::optional<PatternMatch> MatchAt(const Block& block, const UseIndex& uses, int op_index,
                                    const OpPattern& pattern, std::string* why_not = nullptr);

// Every match in block order; a later match never shares an op with an earlier one.
std::vector<PatternMatch> FindMatches(const Block& block, const UseIndex& uses,
                                      const OpPattern& pattern);

// Removes the ops at `indices` (any order, duplicates allowed) from `block`, keeping the order
// of the rest.
void EraseOps(Block& block, std::vector<int> indices);

}  // namespace fleet
