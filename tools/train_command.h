// fleet-run's training mode: the flags, reading a job folder, and the run (tools/fleet_run.cc
// is the main).
//
//   fleet-run job/ --data train/ --batch 64 --epochs 2 --metrics-out m.jsonl --save ckpt/
//
// A job folder (ir/job_file.h, read through its manifest.pbtxt) holds the program "main"
// (forward, loss, backward and optimizer ops; its meta names the loss in
// ProgramMeta::training.loss and records the strategy, whose training.label, training.output and
// training.loss pick the metrics) and, optionally, "startup" (fills the optimizer state once
// before training). A single program file trains as a job of that one program.
//
// A job whose programs communicate (--strategy collective or localsgd) runs as one worker of
// a data-parallel group: the role comes from the environment (runtime/role_maker.h; fleet-launch
// sets it), the worker meets the others through the Fleet API (runtime/fleet.h), trains on its
// shard of the data (worker i of n reads records i, i+n, ...; a parameter-server worker reads
// files i, i+n, ... of several, executor/data/data_files.h), and worker 0 saves and exports.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"

namespace fleet {

struct TrainCommandOptions {
  std::string data;
  std::string data_format = "auto";
  std::string slots;
  int64_t batch = 64;
  int epochs = 1;
  int64_t steps = 0;
  int threads = 1;
  int op_threads = 1;  // intra-op threads of each worker
  uint64_t seed = 0;
  bool shuffle = false;
  std::string metrics_out;
  std::string summary_out;  // the run's JSON summary (tools/run_summary.h)
  int64_t log_every = 0;
  std::string save;
  int64_t save_every = 0;
  std::string load;
  std::string export_path;
  bool check_nan = false;
  std::string device = "cpu";  // cpu, cuda, cuda:N
  bool no_tf32 = false;        // full f32 matmuls on a GPU
  bool epochs_given = false;   // set by FinishTrainFlags
};

// Adds the training flags to `app` (--threads is shared with --infer and added by the caller).
void AddTrainFlags(CLI::App& app, TrainCommandOptions& options);
// Call after parsing: records which flags were given.
void FinishTrainFlags(const CLI::App& app, TrainCommandOptions& options);

// Trains the job at `job` (a job folder, or a single program file). Progress goes to `err`,
// the summary to `out`.
absl::Status RunTrainCommand(const std::string& job, const TrainCommandOptions& options,
                             std::ostream& out, std::ostream& err);

}  // namespace fleet
