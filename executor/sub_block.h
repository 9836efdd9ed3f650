// Sub-blocks: how a kernel runs a block of its program through the executor (ONNX If and Loop,
// fleet.conditional_block; later a pserver's optimize blocks).
//
// When an executor prepares a block, every op with BlockRef attributes gets one child executor
// per referenced block. Children are prepared then, once, and reused on every run (never per
// step); the referenced block must be a child of the op's block (Block::parent). Scope rules,
// the verifier's:
//   - Reads. A sub-block reads any var of an enclosing block by name, with the value the parent
//     holds when the op runs: an intermediate computed earlier in this run (the parent's dense
//     slot, shared, not copied), or else what the parent itself reads (the scope, then
//     Program::values). The parent counts the op as a reader of each such var, so the value is
//     not released before the op runs.
//   - Parameters and results. The block's feed vars, in declaration order, take the values the
//     kernel passes to Run; its fetch vars, in declaration order, are the results Run hands back
//     (the inputs and outputs of an ONNX subgraph). Neither is read from or written to the scope.
//   - Writes to outer vars. A sub-block may write a var declared in an enclosing block only when
//     the op lists that var among its outputs (fleet.conditional_block's `Out`); preparing fails
//     otherwise. RunWritingOutputs makes the block's value of each such var the op's output, so
//     the parent sees it as it sees any op output: later ops read it, and a persistable or fetch
//     var is written back to the scope when the parent's run ends.
//   - Prior values. An op with sub-blocks also reads the value each of its outputs has before it
//     runs, when there is one (written earlier in the run, persistable, fed, or from an enclosing
//     block): KeepOutputs hands those on unchanged (a conditional block whose condition is false).
//   - Vars a sub-block declares are local to one run of it, except persistable ones, which live
//     in the scope like the parent's.
//
// Thread safety: that of the executor (one run at a time). Kernels call these methods only while
// their op runs; the object belongs to the executor that prepared the op.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "executor/kernel.h"
#include "executor/tensor.h"
#include "ir/program.h"

namespace fleet {

class Executor;

// True when `op` has a BlockRef attribute (it runs sub-blocks).
bool HasBlockRef(const Op& op);

// What a kernel may know of a sub-block before running it.
struct BlockSignature {
  int num_feeds = 0;                    // feed vars
  std::vector<DataType> result_dtypes;  // per fetch var, its declared dtype (kUndefined: unknown)
};

// How a child executor is bound to its parent (Executor::BindToParent; executor internals).
struct SubBlockInterface {
  const Executor* parent = nullptr;
  int block = -1;
  BlockSignature signature;
  std::vector<std::pair<int, int>> outer_inputs;  // (own slot, parent slot) of vars read
  std::vector<int> feed_slots;                    // per feed var, in declaration order
  std::vector<int> result_slots;                  // per fetch var, in declaration order
  std::vector<int> op_output_slots;  // per positional output of the op: own slot, or -1
};

// The prepared sub-blocks of one op, keyed by the name of the BlockRef attribute.
class SubBlocks {
 public:
  ~SubBlocks();

  // Runs the block named by attribute `attr`: `feeds` go to its feed vars (one each, in
  // declaration order); `results` receives its fetch vars, in declaration order. Errors from
  // the block's ops come back as they are (the executor prefixes this op's description).
  absl::Status Run(std::string_view attr, absl::Span<const Tensor> feeds,
                   std::vector<Tensor>* results);

  // Runs the block named by `attr` (which takes no feeds), then sets every output of the op:
  // the block's value of that var when the block writes it, else the value it had before.
  absl::Status RunWritingOutputs(std::string_view attr, KernelContext& ctx);

  // Sets every output of the op to the value it had before the op; INVALID_ARGUMENT naming the
  // var when it had none.
  absl::Status KeepOutputs(KernelContext& ctx) const;

  // How many feeds the block named by `attr` takes and what results it gives; nullptr when the
  // op has no such block attribute.
  const BlockSignature* Signature(std::string_view attr) const;

 private:
  friend class Executor;
  // Parent slots the children read (outer vars) or keep (prior outputs): readers for lifetimes.
  const std::vector<int>& outer_reads() const { return outer_reads_; }
  struct Child {
    std::string attr;
    std::unique_ptr<Executor> executor;
  };
  SubBlocks() = default;
  absl::StatusOr<const Child*> Find(std::string_view attr) const;
  const Tensor& Prior(int output) const;

  const Executor* parent_ = nullptr;
  std::string description_;  // the op's, for messages
  std::vector<Child> children_;
  std::vector<int> output_slots_;  // parent slots of the op's positional outputs (-1: absent)
  std::vector<int> outer_reads_;
};

}  // namespace fleet
