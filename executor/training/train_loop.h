// The single-machine training loop: runs a startup program once, then a training program (forward,
// loss, backward and in-place optimizer updates) on every batch of a dataset, reporting progress
// and metrics, saving and restoring checkpoints.
//
//   Scope state;
//   FLEET_ASSIGN_OR_RETURN(TrainResult r,
//                          Train(main, &startup, state, dataset, kernels, options, std::cerr));
//   // state now holds the trained parameters and optimizer state.
//
// Hogwild (threads > 1): every worker thread has its own Executor (op_threads intra-op threads) and
// a child Scope over `state`, which holds the persistable vars; workers take batches from one
// reader and update the shared parameters in place without locks, as Paddle's CPU trainer does.
// With one thread the run is deterministic: the same options and seed give the same weights.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "executor/data/reader.h"
#include "executor/device_context.h"
#include "executor/execution_env.h"
#include "executor/kernel.h"
#include "executor/scope.h"
#include "executor/training/checkpoint.h"
#include "executor/training/train_log.h"
#include "executor/wait_stats.h"
#include "ir/program.h"

namespace fleet {

struct TrainOptions {
  int64_t batch_size = 64;
  // Epochs over the data. 0 with max_steps set: as many as max_steps needs.
  int epochs = 1;
  // > 0: stop after this many steps (of this run).
  int64_t max_steps = 0;
  int threads = 1;
  // Intra-op threads of each worker's executor (the kernels split one op's work); with one
  // worker, a multi-core run that stays deterministic up to summation order.
  int op_threads = 1;
  bool shuffle = false;
  uint64_t seed = 0;       // the shuffle order
  bool check_nan = false;  // ExecutorOptions::check_nan for every op

  // What the program computes (from its meta and strategy): the scalar loss var (required), and
  // for metrics the model output, the label feed and the loss kind ("softmax_ce" -> accuracy,
  // "sigmoid_bce" with one output column -> AUC; "" or "mse" -> loss only).
  std::string loss_var;
  std::string output_var;
  std::string label_var;
  std::string loss_kind;

  std::string data_path;  // names the data in messages

  // Data parallelism: this process trains on shard `shard_index` of `num_shards` of the data
  // (ReaderOptions::num_shards). The program's communication ops (an allreduce) reach their
  // transport through `env`, which the startup and the training executors share.
  int shard_index = 0;
  int num_shards = 1;
  std::shared_ptr<const ExecutionEnv> env;
  // Devices besides the host's for the training executors (ExecutorOptions::devices): a GPU
  // the program's ops were placed on. The startup program runs on the host. State the steps
  // leave on a device comes back to the host in `state` before each save and at the end.
  std::vector<DeviceContext> devices;
  // Where the reader puts the batches (ReaderOptions::batch_allocator): a GPU's pinned host
  // memory, so that their uploads are asynchronous; null: ordinary host memory.
  Allocator* batch_allocator = nullptr;
  // Called once on the calling thread, after the startup program (or checkpoint) and right
  // before the first step: fleet-run counts its communicator's work from there.
  std::function<void()> before_first_step;

  // Progress on the log stream: a bar when `terminal`, else lines every `log_every` steps
  // (0: about twenty lines per run). The metrics file gets a line every `log_every` steps
  // (0: every step) and on the last step.
  bool terminal = false;
  int64_t log_every = 0;
  std::string metrics_out;

  // Checkpoints: load before training instead of running the startup program; save every
  // `save_every` steps (0: never) and at the end.
  std::string load_dir;
  std::string save_dir;
  int64_t save_every = 0;
  // How checkpoints are written and read; empty: SaveCheckpoint and LoadCheckpoint of `main`.
  // A parameter-server job's checkpoint spans its servers, so its trainers bring their own.
  std::function<absl::Status(const std::string& dir, const Program& main, const Scope& state,
                             const CheckpointInfo& info)>
      save_checkpoint;
  std::function<absl::StatusOr<CheckpointInfo>(const std::string& dir, const Program& main,
                                               Scope& state)>
      load_checkpoint;
};

struct TrainResult {
  int64_t first_step = 0;  // steps already taken by the loaded checkpoint
  int64_t steps = 0;       // steps of this run
  int64_t samples = 0;
  double seconds = 0;
  double final_loss = 0;     // loss of the last step
  double smoothed_loss = 0;  // moving average at the end
  MetricValues metrics;      // over the last epoch
  // The training executors' waits for ops in flight (an allreduce), summed over the workers:
  // the communication the steps did not hide (executor/wait_stats.h).
  WaitStats waits;
};

// Trains `main` on `dataset`. `main`'s initial values are moved into `state` (see
// MoveValuesIntoScope); `startup` (may be null) runs once into `state` unless options.load_dir
// restores it. Every persistable var of `main` must then have a value. The program's feed vars
// must all be columns of the dataset, with the declared dtype and shape.
//
// Errors: INVALID_ARGUMENT naming what is wrong (a missing or mismatched data column with the
// data path, a checkpoint of another program, a non-finite loss "step 17: the loss is nan ...",
// with check_nan "step 17: op 'fc1' (Gemm) produced NaN in output 'h1'").
absl::StatusOr<TrainResult> Train(Program& main, const Program* startup, Scope& state,
                                  std::shared_ptr<const Dataset> dataset,
                                  const KernelTable& kernels, const TrainOptions& options,
                                  std::ostream& log);

// True when `program` is a training program: it has optimizer ops (role kRoleOptimize), or
// communication ops that carry (parameter, gradient) pairs (a parameter-server trainer sends
// its gradients to the servers, which update).
bool IsTrainingProgram(const Program& program);

}  // namespace fleet
