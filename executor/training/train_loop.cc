// The training loop: setup (values, startup program or checkpoint), Hogwild workers, reporting.
#include "executor/training/train_loop.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <mutex>
#include <shared_mutex>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "executor/data/open.h"
#include "executor/executor.h"
#include "executor/training/checkpoint.h"
#include "executor/training/metrics.h"
#include "ir/op_schema.h"
#include "ir/status_macros.h"

namespace fleet {
namespace {

std::string DeclaredType(const Var& var) {
  if (!var.shape.has_value()) return absl::StrCat(DataTypeName(var.dtype), "[...]");
  std::vector<std::string> dims;
  for (int64_t d : *var.shape) dims.push_back(d < 0 ? "?" : std::to_string(d));
  return absl::StrCat(DataTypeName(var.dtype), "[", absl::StrJoin(dims, ","), "]");
}

// A data column against the feed var it fills: same dtype, rank and known dims.
absl::Status CheckColumn(const Var& var, const Tensor& column, const std::string& data_path) {
  auto mismatch = [&](const std::string& what, const std::string& hint) {
    return absl::InvalidArgumentError(absl::StrCat(
        data_path, ": column '", var.name, "' is ", column.TypeString(), "; the program feeds '",
        var.name, "' as ", DeclaredType(var), " (", what, "; hint: ", hint, ")"));
  };
  if (var.dtype != DataType::kUndefined && column.dtype() != var.dtype) {
    return mismatch("dtype", absl::StrCat("store the column as ", DataTypeName(var.dtype)));
  }
  if (!var.shape.has_value()) return absl::OkStatus();
  if (static_cast<int>(var.shape->size()) != column.rank()) {
    return mismatch("rank", "the first dim of a column counts the records");
  }
  for (int i = 0; i < column.rank(); ++i) {
    const int64_t d = (*var.shape)[static_cast<size_t>(i)];
    if (d >= 0 && d != column.dim(i)) {
      return mismatch(absl::StrCat("dimension ", i),
                      i == 0 ? "the program fixes the batch size" : "the data has other features");
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<double> ScalarValue(const Scope& scope, const std::string& name) {
  const Tensor* t = scope.Find(name);
  if (t == nullptr || !t->defined()) {
    return absl::FailedPreconditionError(
        absl::StrCat("the program did not compute its loss '", name, "'"));
  }
  if (t->numel() != 1 || (t->dtype() != DataType::kF32 && t->dtype() != DataType::kF64)) {
    return absl::InvalidArgumentError(absl::StrCat("the loss '", name, "' is ", t->TypeString(),
                                                   "; expected a one-element float tensor"));
  }
  return t->dtype() == DataType::kF32 ? static_cast<double>(*t->data<float>()) : *t->data<double>();
}

class Trainer {
 public:
  Trainer(Program& main, Scope& state, const KernelTable& kernels, const TrainOptions& options,
          std::ostream& log)
      : main_(main), state_(state), kernels_(kernels), options_(options), log_(log) {}

  absl::Status Setup(const Program* startup, std::shared_ptr<const Dataset> dataset);
  absl::StatusOr<TrainResult> Run();

 private:
  void Work(Executor& executor);
  absl::Status RunStep(Executor& executor, Scope& local, const Batch& batch, double* loss);
  absl::Status Finish(Scope& local, const Batch& batch, double loss);
  // Writes a checkpoint of the state to options_.save_dir.
  absl::Status Save(const CheckpointInfo& info);
  // Brings the state that steps left on a device (parameters kept on a GPU) back to the host,
  // for checkpoints and for the caller; the next step's copies take it up again.
  void StateToHost();
  void Fail(absl::Status status);

  Program& main_;
  Scope& state_;
  const KernelTable& kernels_;
  const TrainOptions& options_;
  std::ostream& log_;

  std::vector<const Var*> feeds_;
  std::vector<std::string> persistable_;
  std::vector<std::unique_ptr<Executor>> executors_;
  std::unique_ptr<DataReader> reader_;
  std::unique_ptr<MetricsWriter> writer_;
  std::unique_ptr<ProgressPrinter> progress_;
  std::unique_ptr<EpochMetrics> metrics_;
  int epochs_ = 1;
  int64_t total_steps_ = 0;
  int64_t first_step_ = 0;
  int64_t metrics_every_ = 1;
  std::chrono::steady_clock::time_point start_;

  std::mutex reader_mu_;  // guards reader_ and taken_
  int64_t taken_ = 0;
  std::atomic<bool> stop_{false};

  // Workers hold it shared while running a step; a checkpoint taken during the run holds it
  // exclusively, so it never sees a half-applied update.
  std::shared_mutex steps_mu_;

  std::mutex report_mu_;  // guards what follows
  absl::Status error_;
  int64_t done_ = 0;
  int64_t samples_ = 0;
  int metrics_epoch_ = 0;
  double last_loss_ = 0;
  int last_epoch_ = 0;
};

absl::Status Trainer::Setup(const Program* startup, std::shared_ptr<const Dataset> dataset) {
  if (options_.batch_size < 1 || options_.threads < 1 || options_.op_threads < 1 ||
      options_.epochs < 0 || options_.max_steps < 0 ||
      (options_.epochs == 0 && options_.max_steps == 0)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "training options: batch size ", options_.batch_size, ", threads ", options_.threads,
        ", op threads ", options_.op_threads, ", epochs ", options_.epochs, ", steps ",
        options_.max_steps, "; expected batch size and threads >= 1 and some epochs or steps"));
  }
  const Block& block = main_.main();
  if (options_.threads > 1) {
    for (const Op& op : block.ops) {
      const OpSchema* schema = FindOpSchema(op.type);
      if (schema == nullptr || (schema->traits & kTraitCommunication) == 0) continue;
      return absl::InvalidArgumentError(absl::StrCat(
          op.Describe(),
          ": a program that communicates trains with one worker thread per "
          "process, so that every rank issues its collectives in the same order; got ",
          options_.threads, " threads (hint: --op-threads N splits each op over N cores)"));
    }
  }
  const Var* loss = options_.loss_var.empty() ? nullptr : block.FindVar(options_.loss_var);
  if (loss == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(
        main_.source, ": the loss var '", options_.loss_var,
        "' is not a var of the main block (hint: transpile the model with a loss and optimizer)"));
  }
  for (const Var& v : block.vars()) {
    if (v.Has(kVarFeed)) feeds_.push_back(&v);
    if (v.Has(kVarPersistable) && !v.Has(kVarFeed)) persistable_.push_back(v.name);
  }

  MoveValuesIntoScope(main_, state_);
  if (!options_.load_dir.empty()) {
    FLEET_ASSIGN_OR_RETURN(CheckpointInfo info,
                           options_.load_checkpoint
                               ? options_.load_checkpoint(options_.load_dir, main_, state_)
                               : LoadCheckpoint(options_.load_dir, main_, state_));
    first_step_ = info.step;
  } else if (startup != nullptr) {
    ExecutorOptions startup_options;
    startup_options.env = options_.env;
    auto executor = Executor::Create(*startup, kernels_, startup_options);
    absl::Status status = executor.ok() ? (*executor)->Run(state_) : executor.status();
    if (!status.ok()) {
      return absl::Status(
          status.code(), absl::StrCat(startup->source.empty() ? "startup program" : startup->source,
                                      ": ", status.message()));
    }
  }
  for (const std::string& name : persistable_) {
    if (state_.FindLocal(name) == nullptr) {
      return absl::FailedPreconditionError(absl::StrCat(
          main_.source, ": persistable var '", name,
          "' has no value: neither the program's initial values nor the startup program set it"));
    }
  }

  std::vector<std::string> feed_names;
  for (const Var* v : feeds_) feed_names.push_back(v->name);
  FLEET_RETURN_IF_ERROR(CheckDatasetProvides(*dataset, options_.data_path, feed_names));

  ExecutorOptions exec_options;
  exec_options.num_threads = options_.op_threads;
  exec_options.check_nan = options_.check_nan;
  exec_options.env = options_.env;
  exec_options.devices = options_.devices;
  for (int i = 0; i < options_.threads; ++i) {
    FLEET_ASSIGN_OR_RETURN(auto executor, Executor::Create(main_, kernels_, exec_options));
    executors_.push_back(std::move(executor));
  }

  ReaderOptions reader_options;
  reader_options.batch_size = options_.batch_size;
  reader_options.shuffle = options_.shuffle;
  reader_options.seed = options_.seed;
  reader_options.shard_index = options_.shard_index;
  reader_options.num_shards = options_.num_shards;
  reader_options.batch_allocator = options_.batch_allocator;
  reader_options.start_step = first_step_;  // a loaded checkpoint's run goes on where it was
  const int64_t all_records = dataset->num_records();
  const int64_t records = ShardRecords(all_records, std::max(options_.num_shards, 1));
  if (records == 0) {
    return absl::InvalidArgumentError(
        all_records == 0
            ? absl::StrCat(options_.data_path, ": the data has no records")
            : absl::StrCat(options_.data_path, ": ", all_records, " records cannot feed ",
                           options_.num_shards, " ranks; expected at least one record each"));
  }
  if (all_records % options_.num_shards != 0) {
    log_ << "note: " << all_records % options_.num_shards << " of the " << all_records
         << " records are left out of each epoch so that all " << options_.num_shards
         << " ranks take the same steps\n";
  }
  const int64_t per_epoch = (records + options_.batch_size - 1) / options_.batch_size;
  epochs_ = options_.epochs > 0
                ? options_.epochs
                : static_cast<int>((options_.max_steps + per_epoch - 1) / per_epoch);
  reader_options.epochs = epochs_;
  total_steps_ = per_epoch * epochs_;
  if (options_.max_steps > 0) total_steps_ = std::min(total_steps_, options_.max_steps);
  FLEET_ASSIGN_OR_RETURN(reader_, DataReader::Create(std::move(dataset), reader_options));

  const Var* output = options_.output_var.empty() ? nullptr : block.FindVar(options_.output_var);
  const bool can_measure = output != nullptr && output->Has(kVarFetch) &&
                           !options_.label_var.empty() && block.FindVar(options_.label_var);
  metrics_ = std::make_unique<EpochMetrics>(
      can_measure ? ChooseMetricKind(options_.loss_kind, output->shape) : MetricKind::kNone);
  if (!options_.metrics_out.empty()) {
    FLEET_ASSIGN_OR_RETURN(writer_, MetricsWriter::Open(options_.metrics_out));
  }
  metrics_every_ = options_.log_every > 0 ? options_.log_every : 1;
  const int64_t log_every =
      options_.log_every > 0 ? options_.log_every : std::max<int64_t>(1, total_steps_ / 20);
  progress_ =
      std::make_unique<ProgressPrinter>(log_, options_.terminal, total_steps_, epochs_, log_every);
  return absl::OkStatus();
}

void Trainer::Fail(absl::Status status) {
  std::lock_guard<std::mutex> lock(report_mu_);
  if (error_.ok()) error_ = std::move(status);
  stop_ = true;
}

absl::Status Trainer::RunStep(Executor& executor, Scope& local, const Batch& batch, double* loss) {
  for (const Var* var : feeds_) {
    auto it = batch.tensors.find(var->name);
    if (it == batch.tensors.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat(options_.data_path, ": the batch has no column '", var->name, "'"));
    }
    FLEET_RETURN_IF_ERROR(CheckColumn(*var, it->second, options_.data_path));
    local.Set(var->name, it->second);
  }
  FLEET_RETURN_IF_ERROR(executor.Run(local));
  // Optimizer kernels update the shared tensors in place; an op that wrote a persistable var
  // into a new tensor (a counter, say) has its result copied into the shared one, so every
  // worker sees it. Either way the worker's own entry goes, and the next step reads the shared.
  for (const std::string& name : persistable_) {
    Tensor* mine = local.FindLocal(name);
    if (mine == nullptr) continue;
    Tensor* shared = state_.FindLocal(name);
    if (mine->raw_data() != shared->raw_data()) {
      if (mine->dtype() != shared->dtype() || mine->shape() != shared->shape() ||
          mine->is_sparse_rows()) {
        return absl::InvalidArgumentError(
            absl::StrCat("persistable var '", name, "' was ", shared->TypeString(),
                         " and an op of the program made it ", mine->TypeString()));
      }
      std::memcpy(shared->raw_data(), mine->raw_data(), mine->nbytes());
    }
    local.Erase(name);
  }
  FLEET_ASSIGN_OR_RETURN(*loss, ScalarValue(local, options_.loss_var));
  if (!std::isfinite(*loss)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the loss '", options_.loss_var, "' is ", std::isnan(*loss) ? "nan" : "inf", " (epoch ",
        batch.epoch + 1, ", batch ", batch.index + 1,
        "; hint: rerun with --check-nan to find the op that produced it, or lower the learning "
        "rate)"));
  }
  return absl::OkStatus();
}

absl::Status Trainer::Finish(Scope& local, const Batch& batch, double loss) {
  std::lock_guard<std::mutex> lock(report_mu_);
  if (stop_) return absl::OkStatus();
  ++done_;
  samples_ += batch.size;
  last_loss_ = loss;
  last_epoch_ = batch.epoch;
  if (batch.epoch > metrics_epoch_) {
    metrics_->Reset();
    metrics_epoch_ = batch.epoch;
  }
  if (metrics_->kind() != MetricKind::kNone) {
    const Tensor* output = local.Find(options_.output_var);
    auto label = batch.tensors.find(options_.label_var);
    if (output != nullptr && label != batch.tensors.end()) {
      FLEET_RETURN_IF_ERROR(metrics_->Update(*output, label->second));
    }
  }
  StepReport report;
  report.step = first_step_ + done_;
  report.run_step = done_;
  report.epoch = batch.epoch;
  report.batch_size = batch.size;
  report.loss = loss;
  report.metrics = metrics_->Values();
  report.elapsed_sec =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  report.samples_per_sec =
      report.elapsed_sec > 0 ? static_cast<double>(samples_) / report.elapsed_sec : 0;
  progress_->Report(report);
  if (writer_ != nullptr && (done_ % metrics_every_ == 0 || done_ == total_steps_)) {
    FLEET_RETURN_IF_ERROR(writer_->Write(report));
  }
  if (options_.save_every > 0 && !options_.save_dir.empty() &&
      report.step % options_.save_every == 0) {
    std::unique_lock<std::shared_mutex> pause(steps_mu_);
    FLEET_RETURN_IF_ERROR(Save(CheckpointInfo{report.step, batch.epoch, ""}));
  }
  return absl::OkStatus();
}

absl::Status Trainer::Save(const CheckpointInfo& info) {
  StateToHost();
  if (options_.save_checkpoint) {
    return options_.save_checkpoint(options_.save_dir, main_, state_, info);
  }
  return SaveCheckpoint(options_.save_dir, main_, state_, info);
}

void Trainer::Work(Executor& executor) {
  Scope local(&state_);
  Batch batch;
  while (!stop_) {
    int64_t run_step;
    {
      std::lock_guard<std::mutex> lock(reader_mu_);
      if (stop_ || taken_ >= total_steps_) return;
      absl::StatusOr<bool> next = reader_->Next(batch);
      if (!next.ok()) return Fail(next.status());
      if (!*next) return;
      run_step = ++taken_;
    }
    const int64_t step = first_step_ + run_step;
    double loss = 0;
    absl::Status status;
    {
      std::shared_lock<std::shared_mutex> running(steps_mu_);
      status = RunStep(executor, local, batch, &loss);
    }
    if (status.ok()) status = Finish(local, batch, loss);
    if (!status.ok()) {
      return Fail(absl::Status(status.code(), absl::StrCat("step ", step, ": ", status.message())));
    }
  }
}

absl::StatusOr<TrainResult> Trainer::Run() {
  if (options_.before_first_step) options_.before_first_step();
  start_ = std::chrono::steady_clock::now();
  if (executors_.size() == 1) {
    Work(*executors_[0]);
  } else {
    std::vector<std::thread> workers;
    for (auto& executor : executors_) {
      workers.emplace_back([this, e = executor.get()] { Work(*e); });
    }
    for (std::thread& t : workers) t.join();
  }
  progress_->Finish();
  if (!error_.ok()) return error_;
  TrainResult result;
  result.first_step = first_step_;
  result.steps = done_;
  result.samples = samples_;
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  result.final_loss = last_loss_;
  result.smoothed_loss = progress_->smoothed_loss();
  result.metrics = metrics_->Values();
  for (const auto& executor : executors_) {
    const WaitStats w = executor->wait_stats();
    result.waits.runs += w.runs;
    result.waits.waits += w.waits;
    result.waits.waited += w.waited;
  }
  if (!options_.save_dir.empty()) {
    FLEET_RETURN_IF_ERROR(Save(CheckpointInfo{first_step_ + done_, last_epoch_, ""}));
  }
  StateToHost();
  return result;
}

void Trainer::StateToHost() {
  for (const std::string& name : state_.LocalNames()) {
    Tensor* t = state_.FindLocal(name);
    if (t->defined() && !t->host_accessible()) *t = t->Clone(CpuAllocator());
  }
}

}  // namespace

absl::StatusOr<TrainResult> Train(Program& main, const Program* startup, Scope& state,
                                  std::shared_ptr<const Dataset> dataset,
                                  const KernelTable& kernels, const TrainOptions& options,
                                  std::ostream& log) {
  Trainer trainer(main, state, kernels, options, log);
  FLEET_RETURN_IF_ERROR(trainer.Setup(startup, std::move(dataset)));
  return trainer.Run();
}

bool IsTrainingProgram(const Program& program) {
  for (const Block& block : program.blocks) {
    for (const Op& op : block.ops) {
      // Updates its parameters, or sends their gradients to the servers that update them.
      if (HasRole(op, kRoleOptimize) || (HasRole(op, kRoleRpc) && !op.role_vars.empty())) {
        return true;
      }
    }
  }
  return false;
}

}  // namespace fleet
