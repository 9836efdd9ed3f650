// DistributedOptimizer: the Fleet API's transpile step, after PaddlePaddle's
// `fleet.distributed_optimizer(optimizer, strategy).minimize(loss)`. It turns a single-machine
// model into the job a strategy asks for by running the strategy's passes (StrategyPipeline:
// loss, autodiff, optimizer, startup, then ps-split, allreduce or localsgd), the passes
// `fleet-transpile --strategy ...` runs before it writes a job folder, but in the calling process.
//
//   proto::TrainingConfig adam;  // the optimizer, and the loss the model is trained on
//   adam.set_optimizer("adam");
//   adam.set_lr(0.001);
//   adam.set_loss(proto::TrainingConfig::SOFTMAX_CE);
//   proto::DistributedStrategy strategy;
//   strategy.set_mode(proto::DistributedStrategy::PS);
//   strategy.mutable_ps()->set_servers(fleet->role().num_servers);
//   FLEET_ASSIGN_OR_RETURN(Job job, DistributedOptimizer(adam, strategy).Minimize(model));
//   // job: "main" (the trainer), "startup", and "pserver.<i>", "pserver.<i>.startup" per server
//
// Every process of a job, servers included, calls Minimize on the same model with the same
// configs and gets the same programs: the passes are pure functions of their input (ps-split
// places blocks by a stable hash), so no process needs another's output.
//
// It lives in passes/ rather than beside Fleet in runtime/ because the layering lets runtime/
// see only ir, executor and kernels (tests/layering/check_includes.py), while this needs only
// ir and passes; a program that uses both halves of the API (examples/ps_train.cc) links both.
//
// Thread safety: Minimize is const and keeps nothing between calls; each call works on its own
// copy of the input, with its own PassManager and passes.
#pragma once

#include <optional>

#include "absl/status/statusor.h"
#include "ir/job.h"
#include "ir/program.h"
#include "passes/strategy.pb.h"

namespace fleet {

class DistributedOptimizer {
 public:
  // `optimizer` says how the model is trained: the optimizer's name, learning rate and
  // hyper-parameters, and the loss (its kind, label and output, or the model's own loss
  // output). `strategy` says how the job is distributed; its `training` field is left unset
  // (the optimizer config takes its place) or must equal `optimizer`.
  DistributedOptimizer(proto::TrainingConfig optimizer, proto::DistributedStrategy strategy);

  // The strategy the passes read and every program records: `strategy` with `optimizer` as
  // its training field.
  const proto::DistributedStrategy& strategy() const { return strategy_; }

  // Runs the strategy's passes over `job`, whose main program is the single-machine model
  // (forward ops only; the passes add the loss, the backward and the update), and returns the
  // transpiled job; every program records the strategy (RecordStrategy). Errors:
  // INVALID_ARGUMENT for a bad config, naming the field ("optimizer config field 'lr': ...",
  // "strategy field 'ps.servers': ...") or the two trainings that disagree; a pass's error as
  // the PassManager reports it ("pass 'loss' failed: ... (reproducer: FILE)").
  absl::StatusOr<Job> Minimize(Job job) const;
  // The same for a job of one program, `model`, as its main program.
  absl::StatusOr<Job> Minimize(Program model) const;

 private:
  proto::DistributedStrategy strategy_;
  // The strategy's own training field when it was set and differs from the optimizer config:
  // Minimize refuses to guess which one the caller meant.
  std::optional<proto::TrainingConfig> conflicting_training_;
};

}  // namespace fleet
