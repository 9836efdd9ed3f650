// ps_train: a single-machine C++ training program made a parameter-server job by the Fleet API,
// as PaddlePaddle's fleet promises. Every process of the job runs this same binary; fleet-launch
// gives each its role in the environment:
//
//   fleet-launch --workers 2 --servers 2 -- build/examples/ps_train model.onnx data/ --steps 500
//
// The model is an ONNX file whose only output is the logits a softmax cross-entropy loss is
// taken on; the data a folder of .npy files, one per model input plus label.npy (int64 class
// ids), records along the first dim (docs/data-readers.md). Worker i of n trains on records i,
// i + n, ...; each prints its final loss, and --metrics-out writes its losses step by step.
// The block under "Fleet" and StopWorker are all that differ from training in one process
// (docs/parameter-server.md, "C++ API").
#include <cstdint>
#include <iostream>
#include <memory>
#include <string>
#include <utility>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "executor/data/npy_dataset.h"
#include "executor/scope.h"
#include "executor/training/train_loop.h"
#include "ir/onnx/importer.h"
#include "ir/status_macros.h"
#include "kernels/cpu/register.h"
#include "passes/distributed_optimizer.h"
#include "passes/strategy.h"
#include "runtime/fleet.h"
#include "runtime/role_maker.h"

namespace {

using fleet::Dataset;
using fleet::DistributedOptimizer;
using fleet::Fleet;
using fleet::ImportOnnxFile;
using fleet::Job;
using fleet::KernelTable;
using fleet::kStartupProgram;
using fleet::OpenNpyDataset;
using fleet::ParseSyncModeName;
using fleet::ProcessEnvironment;
using fleet::Program;
using fleet::RegisterCpuKernels;
using fleet::Role;
using fleet::RoleFromEnvironment;
using fleet::Scope;
using fleet::Train;
using fleet::TrainOptions;
using fleet::TrainResult;
using fleet::proto::DistributedStrategy;
using fleet::proto::PsConfig;
using fleet::proto::TrainingConfig;

struct Flags {
  std::string model;
  std::string data;
  std::string optimizer = "adam";
  double lr = 0.001;
  int64_t batch = 64;
  int64_t steps = 100;
  std::string sync_mode = "async";
  std::string metrics_out;
};

// A parameter-server strategy for the servers of `role`, which must have some.
absl::StatusOr<DistributedStrategy> PsStrategy(const Role& role, const std::string& sync_mode) {
  if (role.num_servers == 0) {
    return absl::FailedPreconditionError(
        absl::StrCat(role.Name(), " (", role.maker,
                     ") belongs to a job without parameter servers (hint: start it with "
                     "fleet-launch --workers N --servers M -- ps_train ...)"));
  }
  DistributedStrategy strategy;
  strategy.set_mode(DistributedStrategy::PS);
  strategy.mutable_ps()->set_servers(role.num_servers);
  FLEET_ASSIGN_OR_RETURN(PsConfig::SyncMode mode, ParseSyncModeName(sync_mode));
  strategy.mutable_ps()->set_sync_mode(mode);
  return strategy;
}

absl::Status Run(const Flags& flags) {
  // The single-machine program: a model, its data, how to train it.
  FLEET_ASSIGN_OR_RETURN(Program model, ImportOnnxFile(flags.model));
  FLEET_ASSIGN_OR_RETURN(std::shared_ptr<const Dataset> data, OpenNpyDataset(flags.data));
  TrainingConfig optimizer;
  optimizer.set_optimizer(flags.optimizer);
  optimizer.set_lr(flags.lr);
  optimizer.set_loss(TrainingConfig::SOFTMAX_CE);
  KernelTable kernels;
  RegisterCpuKernels(kernels);
  TrainOptions options;
  options.batch_size = flags.batch;
  options.epochs = 0;  // as many as the steps need
  options.max_steps = flags.steps;
  options.data_path = flags.data;

  // Fleet: the role fleet-launch gave this process, and the job every process transpiles alike.
  FLEET_ASSIGN_OR_RETURN(Role role, RoleFromEnvironment(ProcessEnvironment()));
  FLEET_ASSIGN_OR_RETURN(DistributedStrategy strategy, PsStrategy(role, flags.sync_mode));
  FLEET_ASSIGN_OR_RETURN(std::unique_ptr<Fleet> fleet, Fleet::Init(role));
  FLEET_ASSIGN_OR_RETURN(Job job,
                         DistributedOptimizer(optimizer, strategy).Minimize(std::move(model)));
  if (fleet->IsServer()) {
    FLEET_RETURN_IF_ERROR(fleet->InitServer());
    return fleet->RunServer(job, std::cerr);  // serves until every worker is done
  }
  FLEET_RETURN_IF_ERROR(fleet->InitWorker());  // connects to the servers
  Fleet::RegisterKernels(kernels);             // the kernels of the ps ops
  options.env = fleet->env();                  // how they reach the servers
  options.shard_index = fleet->WorkerIndex();  // this worker's share of the data
  options.num_shards = fleet->WorkerNum();

  options.loss_var = job.main().meta.training.loss;
  options.metrics_out =
      absl::StrReplaceAll(flags.metrics_out, {{"{rank}", std::to_string(fleet->WorkerIndex())}});
  Scope state;
  FLEET_ASSIGN_OR_RETURN(TrainResult result, Train(job.main(), job.Find(kStartupProgram), state,
                                                   data, kernels, options, std::cerr));
  FLEET_RETURN_IF_ERROR(fleet->StopWorker());  // Fleet: tells the servers this worker is done
  std::cout << absl::StrFormat("ps_train: %s of %d: trained %d steps; final loss %.6g\n",
                               role.Name(), fleet->WorkerNum(), result.steps, result.final_loss);
  return absl::OkStatus();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"ps_train: train an ONNX model as a parameter-server job through the Fleet API"};
  Flags flags;
  app.add_option("model", flags.model, "the single-machine model (.onnx)")->required();
  app.add_option("data", flags.data, "a folder of .npy files: the model's inputs and label.npy")
      ->required();
  app.add_option("--optimizer", flags.optimizer, "sgd, momentum, adam, adamw or adagrad")
      ->capture_default_str();
  app.add_option("--lr", flags.lr, "learning rate")->capture_default_str();
  app.add_option("--batch", flags.batch, "records per step and worker")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--steps", flags.steps, "training steps")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--sync-mode", flags.sync_mode, "sync, async or half_async")
      ->capture_default_str();
  app.add_option("--metrics-out", flags.metrics_out,
                 "one JSON line per step (step, loss, ...); \"{rank}\" becomes the worker index");
  CLI11_PARSE(app, argc, argv);
  absl::Status status = Run(flags);
  if (!status.ok()) {
    std::cerr << "ps_train: error: " << status.message() << "\n";
    return 1;
  }
  return 0;
}
