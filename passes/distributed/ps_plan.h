// What the ps-split pass (ps_split.cc) learns from a single-machine training job before it
// rewrites it: which parameters become sparse tables and where they are looked up, how the
// dense parameters are cut into blocks and placed on the servers, and the one update rule
// every server runs. PlanPs reads the job; BuildPsServers and BuildPsTrainer write the
// programs from the plan. Internal to passes/distributed/.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "ir/job.h"
#include "ir/program.h"
#include "passes/distributed/ps_layout.h"
#include "passes/pass.h"
#include "passes/strategy.pb.h"

namespace fleet::distributed {

// A trainable f32 matrix [rows, width] that forward reads only through Gather on axis 0 and
// whose final gradient is sparse rows: its rows live on the servers, sharded by id.
struct PsTable {
  std::string param;
  int64_t width = 0;                // dim 1: the width of a row
  int64_t rows = 0;                 // dim 0: the model's own rows (0 when not static)
  std::vector<std::string> states;  // per state of the rule, the table's state var
};

// One Gather of a table; the trainer pulls its rows instead.
struct PsLookup {
  size_t table = 0;      // index into PsPlan::tables
  size_t op = 0;         // main-block index of the Gather
  std::string ids;       // its indices
  std::string out;       // its output
  std::string out_grad;  // the gradient of `out` (what gather_grad_sparse reads); "" if none
};

// A dense parameter: every other trainable parameter.
struct PsDense {
  std::string param;
  std::string grad;                 // its final gradient
  std::vector<std::string> states;  // per state of the rule, the parameter's state var
};

// A row block of a dense parameter (ir/fleet_ps_ops.cc's block attributes).
struct PsBlock {
  int64_t id = 0;     // job-wide, in parameter order then row order
  size_t param = 0;   // index into PsPlan::dense
  int64_t index = 0;  // position within the parameter: the var is "<param>.block<index>"
  RowBlock rows;
  int64_t server = 0;
};

// A state input of the update op (Moment1, Velocity, ...).
struct PsState {
  std::string slot;      // the input slot
  std::string suffix;    // slot lower-cased: the server var is "<param>.block<j>.<suffix>"
  bool rowwise = false;  // shaped like its parameter (sliced with a block) or whole
  float init = 0;        // what the single-machine startup program fills it with
  Op fill;               // that fill op (for the first parameter), copied by server startups
};

// The update every server runs for every block and table: one optimizer op type and attribute
// set for all parameters, with the learning-rate schedule of the trainer.
struct PsRule {
  Op update;    // the first parameter's update op
  Op schedule;  // the trainer's fleet.lr_schedule
  std::vector<PsState> states;
  DataType dtype = DataType::kUndefined;  // of every parameter
};

struct PsPlan {
  std::string mode;                // "sync", "async", "half_async", "geo"
  int64_t geo_k_steps = 100;       // geo: steps between exchanges
  int64_t dense_pull_every = 1;    // async: sends between two background pulls
  int64_t dense_pull_warmup = -1;  // async: sends that pull after each first; -1: the default
  int64_t servers = 1;
  std::string row_init;  // a valid ir/ps_row_init.h spec
  std::vector<PsTable> tables;
  std::vector<PsLookup> lookups;  // in program order
  std::vector<PsDense> dense;     // in declaration order
  std::vector<PsBlock> blocks;    // in id order
  PsRule rule;
};

// Reads the job's main and startup programs under `config`. Sparse gradients of parameters
// that are not tables are made dense in main (DensifyEmbeddingGradients); candidates that are
// not tables are noted in `ctx` with the reason. Errors: FAILED_PRECONDITION for a job that is
// not a trained one (run after loss, autodiff, optimizer, startup); UNIMPLEMENTED for geo mode
// or a construct the servers cannot run; INVALID_ARGUMENT for settings or parameters that do
// not fit (no servers, clipping by the global norm, updates that differ between parameters,
// a parameter without a static shape).
absl::StatusOr<PsPlan> PlanPs(Job& job, const proto::PsConfig& config, PassContext& ctx);

// Adds "pserver.<i>" and "pserver.<i>.startup" for every server, reading main and startup
// (run it before BuildPsTrainer rewrites them).
absl::Status BuildPsServers(Job& job, const PsPlan& plan);

// Rewrites main and startup into the trainer's programs.
absl::Status BuildPsTrainer(Job& job, const PsPlan& plan);

// Geo mode (ps_geo.cc): the servers' rule adds what trainers send (GeoServerRule); the trainer
// keeps its whole single-machine program and exchanges its changes every k steps
// (BuildGeoTrainer: fleet.ps_geo_sync before the step count, bases filled by startup).
PsRule GeoServerRule(const PsRule& rule);
absl::Status BuildGeoTrainer(Job& job, const PsPlan& plan);

// The dense blocks' layout as the trainer ops carry it (ir/fleet_ps_ops.cc), and the mode.
void SetBlockAttrs(const PsPlan& plan, Op& op);

}  // namespace fleet::distributed
