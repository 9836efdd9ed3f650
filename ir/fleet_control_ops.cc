// Schemas of Fleet's control-flow ops.
//
//   fleet.conditional_block(Cond) -> Out...  {sub_block = ^N}
//
// Runs block N (a child of the op's block) when Cond, a one-element bool, is true; Paddle's
// conditional_block (LocalSGD runs its every-k-steps sync this way). The block reads any var
// of the enclosing blocks by name and writes outer vars directly, by name. Rule for what the
// parent sees afterwards: exactly the vars listed in `Out`. Every var the block writes that is
// declared outside it must be listed in `Out` (the executor refuses the program otherwise, so
// no write is silently lost), and after the op each `Out` var holds the block's value when the
// block ran and wrote it, and otherwise the value it had before the op (so it needs one: a
// persistable var, a feed, or a var an earlier op wrote). A persistable `Out` var reaches the
// scope when the parent's run ends, like any persistable op output. Vars the block declares
// itself are local to it. The op is side-effecting: dead-code elimination keeps it even when
// nothing reads its outputs (the block may communicate).
#include <vector>

#include "ir/fleet_ops.h"
#include "ir/fleet_ops_util.h"

namespace fleet {

std::vector<OpSchema> ControlFlowOpSchemas() {
  using schema::RequiredAttr;
  using schema::SlotOf;
  using schema::VariadicSlot;
  SlotSpec out = VariadicSlot("Out", "");
  out.min_arity = 0;
  OpSchema conditional = schema::MakeSchema("fleet.conditional_block", {SlotOf("Cond", "")}, {out},
                                            {RequiredAttr("sub_block", AttrType::kBlock)});
  conditional.traits = kTraitSideEffect;
  return {std::move(conditional)};
}

}  // namespace fleet
