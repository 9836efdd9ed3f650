// The strategy flags shared by fleet-transpile and fleet-opt, mapped onto a DistributedStrategy
// (passes/strategy.proto):
//   --strategy single|ps|collective|localsgd   mode
//   --label NAME --output NAME --loss-output NAME --loss softmax_ce|sigmoid_bce|mse
//   --optimizer NAME --lr X                    training.*
//   --momentum X --nesterov --beta1 X --beta2 X --epsilon X --weight-decay X
//   --initial-accumulator X --clip-norm X      training.* (optimizer hyper-parameters)
//   --warmup-steps N --lr-decay NAME --decay-steps N --decay-rate X --min-lr X
//                                              training.lr_schedule.*
//   --bucket-mb X                              collective.bucket_mb, or localsgd.bucket_mb
//   --collective-mode allreduce|reduce         collective.mode
//   --k-steps N --begin-step N --adaptive      localsgd.* (localsgd mode)
//   --sync-mode sync|async|half_async|geo --servers N --workers N --min-block-size N
//   --geo-k-steps K --row-init SPEC            ps.* (ps mode)
//   --dense-pull-every N
//   --strategy-file s.pbtxt                    the whole message in text format; flags given
//                                              beside it override its fields
#pragma once

#include <optional>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/status/statusor.h"
#include "passes/strategy.pb.h"

namespace fleet {

struct StrategyCliOptions {
  std::string file;
  std::string mode;
  std::string label;
  std::string output;
  std::string loss_output;
  std::string loss;
  std::string optimizer;
  std::string lr;
  std::string momentum;
  bool nesterov = false;
  std::string beta1;
  std::string beta2;
  std::string epsilon;
  std::string weight_decay;
  std::string initial_accumulator;
  std::string clip_norm;
  std::string warmup_steps;
  std::string lr_decay;
  std::string decay_steps;
  std::string decay_rate;
  std::string min_lr;
  std::string bucket_mb;
  std::string collective_mode;
  std::string k_steps;
  std::string begin_step;
  bool adaptive = false;
  std::string sync_mode;
  std::string servers;
  std::string workers;
  std::string min_block_size;
  std::string geo_k_steps;
  std::string row_init;
  std::string dense_pull_every;
  std::string dense_pull_warmup;
  std::string amp;
  std::string amp_loss_scale;
  std::string amp_growth_interval;
};

// Adds the flags above to `app`.
void AddStrategyFlags(CLI::App& app, StrategyCliOptions& options);

// The strategy the flags describe, or nullopt when no strategy flag and no file was given.
// A bad value is INVALID_ARGUMENT naming the flag ("--loss: unknown loss 'l1'; expected one
// of ...") or the file position ("s.pbtxt:3:9: error: ...").
absl::StatusOr<std::optional<proto::DistributedStrategy>> BuildStrategy(
    const StrategyCliOptions& options);

}  // namespace fleet
