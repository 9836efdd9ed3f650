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
//       parameters equal rank 0's; the reduce mode sends each updated bucket from its owner).
//   fleet.reduce(X...) -> Out...      {root = 0, reduce = "sum" | "mean", group = 0}
//       On rank `root`, Out[i] = the reduction of X[i] over all ranks; on the other ranks Out[i]
//       keeps X[i]'s values (only the root receives the result).
//   fleet.allgather_rows(X) -> Out    {reduce = "sum" | "mean", group = 0}
//       X: a sparse-rows gradient (an embedding's). Out = every rank's rows one after the other
//       (each rank's values divided by the group's size for "mean"), as sparse rows of the same
//       table: repeated ids add up where the rows are used, so an update reads the average of
//       the ranks' gradients while only the touched rows travel, never the dense table.
//   fleet.is_rank() -> Out            {rank = 0, group = 0}
//       Out = bool[1], true on rank `rank` only (the reduce mode runs each bucket's update on
//       its owner through a conditional block).
//
// A `root` or `rank` attribute is taken modulo the group's size at run time, so a program that
// spreads owners over bucket indices (0, 1, 2, ...) serves any number of ranks.
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
  OpSchema reduce =
      schema::MakeSchema("fleet.reduce", {VariadicSlot("X", "")}, {VariadicSlot("Out", "")},
                         {IntAttr("root", 0), StringAttr("reduce", "sum"), IntAttr("group", 0)});
  reduce.traits = kTraitCommunication | kTraitSideEffect;
  OpSchema allgather_rows = schema::MakeSchema("fleet.allgather_rows", {schema::SlotOf("X", "")},
                                               {schema::SlotOf("Out", "")},
                                               {StringAttr("reduce", "sum"), IntAttr("group", 0)});
  allgather_rows.traits = kTraitCommunication | kTraitSideEffect;
  OpSchema is_rank = schema::MakeSchema("fleet.is_rank", {}, {schema::SlotOf("Out", "")},
                                        {IntAttr("rank", 0), IntAttr("group", 0)});
  is_rank.traits = kTraitCommunication;
  return {std::move(allreduce), std::move(broadcast), std::move(reduce), std::move(allgather_rows),
          std::move(is_rank)};
}

}  // namespace fleet
