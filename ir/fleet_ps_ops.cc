// Schemas of the parameter-server ops. The ps pass (passes/distributed/ps_*.cc) writes them; their
// kernels live in runtime/ps/ and reach the worker's client or the server's tables through the
// executor's ExecutionEnv.
//
// Dense parameters travel as blocks: each parameter is cut along its first dimension into one or
// more row ranges, and each block lives on one server. Both sides describe the blocks with the
// same attributes, one entry per block; `block_id` is unique within the job and is what travels:
//   block_id    ints   the block's id
//   block_param ints   (trainer ops) which Dense input / Out output the block belongs to
//   block_begin ints   (trainer ops) its first row within that parameter
//   block_rows  ints   its number of rows
//   block_server ints  (trainer ops) the server that owns it
// Sparse tables are numbered by `table_id`; a row belongs to a server by its id alone
// (runtime/ps/sharding.h), so any number of servers serves any table.
//
// Trainer ops (mode: "sync", "async", "half_async" or "geo"):
//   fleet.ps_pull_sparse(Ids...) -> Out...
//       {table_id = [...], table_dim = [...], table_rows = [...]}
//       Out[i] = the rows of table table_id[i] for the ids Ids[i] (i64 or i32, any shape; any
//       64-bit value is an id): shaped Ids[i].shape + [table_dim[i]], as Gather on axis 0 gives.
//       One request per server carries every table's ids, each id once. table_rows[i], when
//       given, is the height of the model's own table (readers that hash raw features into a
//       table's rows, like the Criteo reader, use it); 0 or absent: ids are any 64-bit value.
//   fleet.ps_push(Step, Dense..., SparseIds..., SparseGrad...) -> ()
//       {block attributes, table_id, mode}
//       Sends this step's gradients: Dense[p] is parameter p's dense gradient (cut into its
//       blocks), SparseGrad[i] the gradient of the looked-up rows Out[i] of a ps_pull_sparse
//       whose ids were SparseIds[i] (same leading shape, last dimension the table's width).
//       Repeated ids add up. Every server gets one request per step (possibly empty), numbered
//       by Step (the trainer's global step).
//   fleet.ps_pull_dense(Step?) -> Out...  {block attributes, mode, pull_every = 1, pull_warmup =
//   50}
//       Out[p] = parameter p as the servers hold it. With Step in sync mode, it waits until
//       every server applied the updates of step Step; without Step (the startup program) it
//       waits until the servers are up. With Step in async mode, the trainer's background
//       sender pulls after each of its first pull_warmup sends, then after every pull_every-th
//       send, and the op takes the latest values.
//   fleet.ps_geo_sync(Step, Params..., Bases..., Ids...) -> (ParamsOut..., BasesOut...)
//       {block attributes, table_id = [...], lookup_table = [...], k_steps, mode = "geo"}
//       Geo-SGD: the trainer trains on its own copies; after every k_steps-th step
//       ((Step + 1) % k_steps == 0) it sends each parameter's change since the last exchange,
//       (Params[i] - Bases[i]) / workers, which the servers add to theirs, then takes the
//       servers' values as both its parameters and its new bases. Params (and Bases alike) are
//       the dense parameters (block_param indexes them), then the tables (table_id[t] is
//       Params[dense + t]'s id); only table rows touched since the last exchange travel: the ids
//       of Ids[j] are rows of table lookup_table[j]. Between exchanges it only notes those ids.
//       ParamsOut and BasesOut name the same vars as Params and Bases.
// Server op:
//   fleet.ps_serve(Params..., States..., Tables..., TableStates...) -> (Params..., States...,
//       TableStates...)
//       {update = ^block, block_id = [...], table_id = [...], table_dim = [...],
//        state_rowwise = [...], state_init = [...], mode}
//       Serves until every worker said it is done. Params[b] is the initial value of dense block
//       block_id[b]; States holds, per block, one var per state of the update rule (k per block,
//       in the rule's order). Tables[t] is the model's own table for table_id[t] (rows of ids
//       below its height start from it; others from `row_init`, spelled as ir/ps_row_init.h
//       says); TableStates holds, per table, one var per state whose state_rowwise is 0 (a
//       scalar such as Adam's beta powers): a table's rowwise states live in its rows, starting
//       at state_init. The outputs give the final values back, so they reach the scope like
//       any op's.
//       `update` is the update rule, shared by all blocks and tables: its feed vars are, in
//       order, Step (i64[1]: updates applied before this one), Param, Grad, then the k states;
//       its fetch vars ParamOut and the k new states. A dense block feeds its whole value, a
//       table the touched rows only (each rowwise state sliced the same way).
// The variadic inputs of ps_push and ps_serve may be empty: a job without tables, a server that
// owns no dense block, an update rule without state (sgd).
#include <vector>

#include "ir/fleet_ops.h"
#include "ir/fleet_ops_util.h"

namespace fleet {
namespace {

using schema::AttrOf;
using schema::MakeSchema;
using schema::OptionalSlot;
using schema::StringAttr;
using schema::VariadicSlot;

// The attributes that lay dense blocks out on the trainer side.
std::vector<AttrSpec> TrainerBlockAttrs() {
  return {AttrOf("block_id", AttrType::kInts, AttrValue(std::vector<int64_t>{})),
          AttrOf("block_param", AttrType::kInts, AttrValue(std::vector<int64_t>{})),
          AttrOf("block_begin", AttrType::kInts, AttrValue(std::vector<int64_t>{})),
          AttrOf("block_rows", AttrType::kInts, AttrValue(std::vector<int64_t>{})),
          AttrOf("block_server", AttrType::kInts, AttrValue(std::vector<int64_t>{}))};
}

// A variadic slot that may hold no var: a job without tables, a server without dense blocks,
// an update rule without state (sgd).
SlotSpec MaybeEmptySlot(const char* name) {
  SlotSpec slot = VariadicSlot(name, "");
  slot.min_arity = 0;
  return slot;
}

AttrSpec IntsAttr(const char* name) {
  return AttrOf(name, AttrType::kInts, AttrValue(std::vector<int64_t>{}));
}

}  // namespace

std::vector<OpSchema> ParameterServerOpSchemas() {
  std::vector<OpSchema> out;

  OpSchema pull_sparse =
      MakeSchema("fleet.ps_pull_sparse", {VariadicSlot("Ids", "I")}, {VariadicSlot("Out", "")},
                 {IntsAttr("table_id"), IntsAttr("table_dim"), IntsAttr("table_rows")});
  pull_sparse.traits = kTraitCommunication | kTraitSideEffect;
  out.push_back(std::move(pull_sparse));

  std::vector<AttrSpec> push_attrs = TrainerBlockAttrs();
  push_attrs.push_back(IntsAttr("table_id"));
  push_attrs.push_back(StringAttr("mode", "sync"));
  OpSchema push = MakeSchema("fleet.ps_push",
                             {schema::SlotOf("Step", "S"), MaybeEmptySlot("Dense"),
                              MaybeEmptySlot("SparseIds"), MaybeEmptySlot("SparseGrad")},
                             {}, std::move(push_attrs));
  push.traits = kTraitCommunication | kTraitSideEffect;
  out.push_back(std::move(push));

  std::vector<AttrSpec> pull_dense_attrs = TrainerBlockAttrs();
  pull_dense_attrs.push_back(StringAttr("mode", "sync"));
  pull_dense_attrs.push_back(schema::IntAttr("pull_every", 1));
  pull_dense_attrs.push_back(schema::IntAttr("pull_warmup", kDefaultDensePullWarmup));
  OpSchema pull_dense = MakeSchema("fleet.ps_pull_dense", {OptionalSlot("Step", "S")},
                                   {VariadicSlot("Out", "")}, std::move(pull_dense_attrs));
  pull_dense.traits = kTraitCommunication | kTraitSideEffect;
  out.push_back(std::move(pull_dense));

  std::vector<AttrSpec> geo_attrs = TrainerBlockAttrs();
  geo_attrs.push_back(IntsAttr("table_id"));
  geo_attrs.push_back(IntsAttr("lookup_table"));
  geo_attrs.push_back(schema::IntAttr("k_steps", 100));
  geo_attrs.push_back(StringAttr("mode", "geo"));
  OpSchema geo = MakeSchema("fleet.ps_geo_sync",
                            {schema::SlotOf("Step", "S"), MaybeEmptySlot("Params"),
                             MaybeEmptySlot("Bases"), MaybeEmptySlot("Ids")},
                            {VariadicSlot("ParamsOut", ""), VariadicSlot("BasesOut", "")},
                            std::move(geo_attrs));
  geo.traits = kTraitCommunication | kTraitSideEffect;
  out.push_back(std::move(geo));

  OpSchema serve =
      MakeSchema("fleet.ps_serve",
                 {MaybeEmptySlot("Params"), MaybeEmptySlot("States"), MaybeEmptySlot("Tables"),
                  MaybeEmptySlot("TableStates")},
                 {VariadicSlot("ParamsOut", ""), VariadicSlot("StatesOut", ""),
                  VariadicSlot("TableStatesOut", "")},
                 {schema::RequiredAttr("update", AttrType::kBlock), IntsAttr("block_id"),
                  IntsAttr("table_id"), IntsAttr("table_dim"), IntsAttr("state_rowwise"),
                  AttrOf("state_init", AttrType::kFloats, AttrValue(std::vector<float>{})),
                  StringAttr("row_init", "zeros"), StringAttr("mode", "sync")});
  serve.traits = kTraitCommunication | kTraitSideEffect;
  out.push_back(std::move(serve));
  return out;
}

}  // namespace fleet
