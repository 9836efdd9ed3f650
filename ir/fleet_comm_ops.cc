// Schemas of Fleet's collective communication ops. Their kernels live in runtime/collective/
// and reach the rank's Communicator through the executor's ExecutionEnv; every rank issues them
// in program order, so all ranks call the same collectives in the same order.
//
//   fleet.allreduce(X...) -> Out...   {reduce = "sum" | "mean", group = 0}
//       Out[i] = the elementwise reduction of X[i] over all ranks of the group. "mean" divides
//       by the group's size at run time, so one program serves any number of ranks. Several X
//       form one fused bucket: one collective call carries all of them. Out[i] normally names
//       X[i] (in place). The kernel may return before the data has arrived (an op in flight);
//       readers of Out wait for it.
//   fleet.broadcast(X...) -> Out...   {root = 0, group = 0}
//       Out[i] = X[i] as rank `root` holds it (the startup program makes every rank's
//       parameters equal rank 0's).
//
// `group` names a communicator group (0: all ranks); the runtime maps it to a Communicator.
#include <vector>

#include "ir/fleet_ops.h"
#include "ir/fleet_ops_util.h"

namespace fleet {

std::vector<OpSchema> CommunicationOpSchemas() {
  using schema::IntAttr;
  using schema::StringAttr;
  using schema::VariadicSlot;
  OpSchema allreduce =
      schema::MakeSchema("fleet.allreduce", {VariadicSlot("X", "")}, {VariadicSlot("Out", "")},
                         {StringAttr("reduce", "sum"), IntAttr("group", 0)});
  allreduce.traits = kTraitCommunication | kTraitSideEffect;
  OpSchema broadcast =
      schema::MakeSchema("fleet.broadcast", {VariadicSlot("X", "")}, {VariadicSlot("Out", "")},
                         {IntAttr("root", 0), IntAttr("group", 0)});
  broadcast.traits = kTraitCommunication | kTraitSideEffect;
  return {std::move(allreduce), std::move(broadcast)};
}

}  // namespace fleet
