// fleet-run's training mode: job folder -> programs, strategy -> metrics, data, Train, export.
#include "tools/train_command.h"

#include <unistd.h>

#include <cstdlib>
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "executor/data/data_files.h"
#include "executor/data/open.h"
#include "executor/training/checkpoint.h"
#include "executor/training/export.h"
#include "executor/training/train_loop.h"
#include "ir/onnx/exporter.h"
#include "ir/op_schema.h"
#include "ir/status_macros.h"
#include "ir/verify.h"
#include "kernels/cpu/register.h"
#include "passes/strategy.h"
#include "runtime/collective/communicator.h"
#include "runtime/collective/register.h"
#include "runtime/fleet.h"
#include "runtime/ps/job_checkpoint.h"
#include "runtime/ps/job_export.h"
#include "runtime/role_maker.h"
#include "tools/checkpoint_sync.h"
#include "tools/human_bytes.h"
#include "tools/program_loader.h"
#include "tools/run_device.h"
#include "tools/run_summary.h"

namespace fleet {
namespace {

// Rows of the embedding table that feed `ids` indexes (a Gather on a parameter), if any.
std::optional<int64_t> EmbeddingRowsFor(const Block& block, const std::string& ids) {
  for (const Op& op : block.ops) {
    if (op.type == "fleet.ps_pull_sparse") {  // a parameter-server trainer's tables
      const Slot* slot = op.FindInput("Ids");
      auto rows = op.attrs.find("table_rows");
      if (slot == nullptr || rows == op.attrs.end()) continue;
      const auto& heights = std::get<std::vector<int64_t>>(rows->second);
      for (size_t i = 0; i < slot->vars.size() && i < heights.size(); ++i) {
        if (slot->vars[i] == ids && heights[i] > 1) return heights[i];
      }
      continue;
    }
    if (op.type != "Gather") continue;
    const Slot* data = op.FindInput("data");
    const Slot* indices = op.FindInput("indices");
    if (data == nullptr || indices == nullptr || data->vars.empty() || indices->vars.empty() ||
        indices->vars[0] != ids) {
      continue;
    }
    const Var* table = block.FindVar(data->vars[0]);
    if (table != nullptr && table->Has(kVarParameter) && table->shape && !table->shape->empty() &&
        (*table->shape)[0] > 1) {
      return (*table->shape)[0];
    }
  }
  return std::nullopt;
}

// The model output the metrics look at: the strategy's training.output, else the only fetch
// var besides the loss.
std::string OutputVar(const Program& main, const std::string& from_strategy,
                      const std::string& loss) {
  if (!from_strategy.empty()) return from_strategy;
  std::vector<std::string> fetched;
  for (const Var& v : main.main().vars()) {
    if (v.Has(kVarFetch) && v.name != loss) fetched.push_back(v.name);
  }
  return fetched.size() == 1 ? fetched[0] : "";
}

// True when a program of the job has communication ops (a collective), in any block.
bool Communicates(const Job& job) {
  for (const auto& [name, program] : job.programs) {
    for (const Block& block : program.blocks) {
      for (const Op& op : block.ops) {
        const OpSchema* schema = FindOpSchema(op.type);
        if (schema != nullptr && (schema->traits & kTraitCommunication) != 0) return true;
      }
    }
  }
  return false;
}

// `path` with "{rank}" replaced by the worker's index.
std::string ForRank(std::string path, int rank) {
  const std::string key = "{rank}";
  for (size_t at = path.find(key); at != std::string::npos; at = path.find(key, at)) {
    path.replace(at, key.size(), std::to_string(rank));
  }
  return path;
}

std::string Thousands(double v) {
  std::string digits = absl::StrFormat("%.0f", v);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0 && digits[i - 1] != '-') out += ',';
    out += digits[i];
  }
  return out;
}

}  // namespace

void AddTrainFlags(CLI::App& app, TrainCommandOptions& o) {
  app.add_option("--data", o.data,
                 "training data: a folder of .npy files (one per program input, the label "
                 "included, records along the first dim), Criteo TSV files, or MultiSlot text "
                 "(with --slots); text files as a file, a folder or a comma-separated list (in a "
                 "parameter-server job, worker i of n reads files i, i+n, ... of several)");
  app.add_option("--data-format", o.data_format, "auto, npy, criteo or multislot")
      ->capture_default_str();
  app.add_option("--slots", o.slots, "MultiSlot slot config (see docs/data-readers.md)");
  app.add_option("--batch", o.batch, "records per step")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 40));
  app.add_option("--epochs", o.epochs,
                 "passes over the data (default 1; with --steps alone, as many as the steps "
                 "need)")
      ->check(CLI::Range(1, 1 << 30));
  app.add_option("--steps", o.steps, "stop after this many steps (default: run the epochs)")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 50));
  app.add_option("--op-threads", o.op_threads,
                 "CPU threads each worker splits one op over (default 1); --threads 1 "
                 "--op-threads N uses N cores and stays reproducible")
      ->check(CLI::Range(1, 256));
  app.add_option("--seed", o.seed,
                 "seed of the shuffle order and of random ops without their own seed (Dropout), so "
                 "runs with one thread repeat exactly")
      ->capture_default_str();
  app.add_flag("--shuffle", o.shuffle, "shuffle the records every epoch (default: file order)");
  app.add_option("--metrics-out", o.metrics_out,
                 "write one JSON line per step (step, epoch, loss, metrics, samples_per_sec, "
                 "elapsed_sec), "
                 "flushed as written; in a data-parallel job \"{rank}\" in the path gives each "
                 "worker its own file (the loss is the worker's own), else worker 0 writes");
  app.add_option("--summary-out", o.summary_out,
                 "at the end, write a JSON summary of the run: steps, samples/s, loss, and in a "
                 "data-parallel job the collectives of the training steps (calls, bytes, busy "
                 "time), the time waited for them and the share hidden behind computation; "
                 "\"{rank}\" as for --metrics-out");
  app.add_option("--log-every", o.log_every,
                 "report every N steps: thins --metrics-out (default: every step) and the "
                 "progress lines when standard error is not a terminal (default: about 20 "
                 "lines per run)")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 50));
  app.add_option("--save", o.save,
                 "save a checkpoint (parameters, optimizer state, step) to this folder at the "
                 "end; replaced atomically (in a data-parallel job, by worker 0)");
  app.add_option("--save-every", o.save_every, "also save every N steps (needs --save)")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 50));
  app.add_option("--load", o.load,
                 "start from this checkpoint instead of the startup program; the step count "
                 "continues from it");
  app.add_option("--export", o.export_path,
                 "after training, write the forward part with the trained weights as ONNX; "
                 "with --load and no --data, export the checkpoint without training");
  app.add_option("--device", o.device,
                 "where the ops run (training and --infer): cpu, or cuda:N for GPU N "
                 "(parameters and optimizer state stay on the GPU; ops without a CUDA kernel "
                 "run on the host, named at the start); fleet-launch --gpus sets it through "
                 "FLEET_DEVICE")
      ->envname("FLEET_DEVICE")
      ->capture_default_str();
  app.add_flag("--no-tf32", o.no_tf32,
               "on a GPU, multiply f32 matrices in full f32 instead of TF32 tensor cores");
  app.add_flag("--check-nan", o.check_nan,
               "check every op's float outputs for NaN/inf and stop naming the first op that "
               "produced one (slower)");
}

void FinishTrainFlags(const CLI::App& app, TrainCommandOptions& o) {
  o.epochs_given = app.count("--epochs") > 0;
}

// --load DIR --export FILE without --data: the checkpoint's weights as ONNX, no training.
absl::Status ExportCheckpoint(const Program& main, const TrainCommandOptions& o,
                              std::ostream& out) {
  Scope state;
  FLEET_ASSIGN_OR_RETURN(CheckpointInfo info, LoadCheckpoint(o.load, main, state));
  FLEET_ASSIGN_OR_RETURN(Program forward, ForwardProgram(main, state));
  FLEET_RETURN_IF_ERROR(ExportOnnxFile(forward, o.export_path));
  out << "fleet-run: exported the model of checkpoint " << o.load << " (step " << info.step
      << ") to " << o.export_path << "\n";
  return absl::OkStatus();
}

// A parameter-server job's checkpoint `dir` as an ONNX model (runtime/ps/job_export.h).
absl::Status ExportJobCheckpoint(const Job& job, const std::string& dir,
                                 const TrainCommandOptions& o, std::ostream& out) {
  Scope state;
  FLEET_ASSIGN_OR_RETURN(ps::ExportedModel model, ps::ExportJobModel(job, dir, state));
  FLEET_RETURN_IF_ERROR(ExportOnnxFile(model.forward, o.export_path));
  out << "fleet-run: exported the model of checkpoint " << dir << " to " << o.export_path << " ("
      << model.rows_restored << " trained table rows";
  if (model.rows_beyond > 0) {
    out << "; " << model.rows_beyond
        << " rows with ids beyond the model's tables have no place in it and were left out";
  }
  out << ")\n";
  return absl::OkStatus();
}

absl::Status RunTrainCommand(const std::string& job, const TrainCommandOptions& o,
                             std::ostream& out, std::ostream& err) {
  const bool export_only = o.data.empty() && !o.load.empty() && !o.export_path.empty();
  if (o.data.empty() && !export_only) {
    return absl::InvalidArgumentError(
        "no training data given (--data PATH); to export a checkpoint without training, give "
        "--load DIR --export FILE.onnx");
  }
  if (o.save_every > 0 && o.save.empty()) {
    return absl::InvalidArgumentError("--save-every needs --save DIR");
  }
  // A job folder is read through its manifest; a single program file is a job of one program.
  FLEET_ASSIGN_OR_RETURN(Job programs, LoadJob(job));
  FLEET_ASSIGN_OR_RETURN(Role role, RoleFromEnvironment(ProcessEnvironment()));
  const bool communicates = Communicates(programs);
  const bool parameter_server = programs.Find(ServerProgramName(0)) != nullptr;
  if (parameter_server && export_only) return ExportJobCheckpoint(programs, o.load, o, out);
  Program main = std::move(programs.main());
  const std::string main_path = main.source.empty() ? job : main.source;
  FLEET_RETURN_IF_ERROR(Verify(main));
  if (!IsTrainingProgram(main)) {
    return absl::InvalidArgumentError(absl::StrCat(
        main_path,
        " has no optimizer ops, so there is nothing to train (hint: transpile it "
        "with a strategy, e.g. fleet-transpile MODEL -o job/ --strategy single, or run it with "
        "--infer)"));
  }
  if (export_only) return ExportCheckpoint(main, o, out);
  if (role.is_server()) {
    if (!parameter_server) {
      return absl::InvalidArgumentError(
          absl::StrCat("this process is ", role.Name(), " (", role.maker, "), but ", main_path,
                       " has no server programs (hint: transpile it with --strategy ps)"));
    }
    FLEET_ASSIGN_OR_RETURN(std::unique_ptr<Fleet> server, Fleet::Init(role));
    err << "fleet-run: " << role.DebugString() << "\n";
    FLEET_RETURN_IF_ERROR(server->InitServer(o.load));
    return server->RunServer(programs, err);
  }
  if (!communicates && role.num_workers > 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        main_path, " trains on one process, but this process is ", role.Name(), " of ",
        role.num_workers, " workers (", role.maker,
        "): each would train a model of its own (hint: transpile with --strategy collective "
        "or localsgd, or run fleet-run on its own)"));
  }
  const Program* sync = programs.Find(kCheckpointSyncProgram);
  std::optional<Program> startup;
  if (Program* found = programs.Find(kStartupProgram); found != nullptr && o.load.empty()) {
    startup = std::move(*found);
    FLEET_RETURN_IF_ERROR(Verify(*startup));
  }

  TrainOptions options;
  if (main.meta.training.loss.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(main_path,
                     ": the program does not name its loss (training.loss in its header; hint: "
                     "transpile it with a loss)"));
  }
  options.loss_var = main.meta.training.loss;
  FLEET_ASSIGN_OR_RETURN(std::optional<proto::DistributedStrategy> strategy,
                         RecordedStrategy(main));
  options.label_var = "label";
  if (strategy.has_value()) {
    const proto::TrainingConfig& t = strategy->training();
    if (!t.label().empty()) options.label_var = t.label();
    options.output_var = t.output();
    options.loss_kind = LossKindName(t.loss());
    // In the reduce mode each parameter's optimizer state is current on its owner only; the
    // job's checkpoint_sync program brings it to the worker that saves. A job transpiled
    // without one cannot be saved.
    if (strategy->collective().mode() == proto::CollectiveConfig::REDUCE && !o.save.empty() &&
        main.meta.training.optimizer != "fleet.sgd" && sync == nullptr) {
      return absl::FailedPreconditionError(absl::StrCat(
          "--save: ", main_path,
          " updates in the reduce mode (--collective-mode reduce), where the ",
          main.meta.training.optimizer,
          " state of each parameter lives on its owner only, and the job has no ",
          kCheckpointSyncProgram,
          " program to gather it (hint: transpile the model again; this version adds it)"));
    }
  }
  options.output_var = OutputVar(main, options.output_var, options.loss_var);
  options.batch_size = o.batch;
  options.epochs = o.epochs_given || o.steps == 0 ? o.epochs : 0;
  options.max_steps = o.steps;
  options.threads = o.threads;
  options.op_threads = o.op_threads;
  options.shuffle = o.shuffle;
  options.seed = o.seed;
  options.check_nan = o.check_nan;
  options.data_path = o.data;
  options.terminal = isatty(STDERR_FILENO) != 0;
  options.log_every = o.log_every;
  options.load_dir = o.load;

  // A data-parallel job: meet the other workers, train on this worker's shard. Worker 0 saves
  // and exports (every worker holds the same parameters); metrics go to one file per worker
  // when the path says "{rank}", else worker 0 writes them.
  std::unique_ptr<Fleet> fleet;
  CommunicatorStats before_steps;  // the startup's collectives, not the steps'
  ps::PsTraffic ps_before_steps;   // likewise the startup's parameter pulls
  const bool first = role.index == 0;
  if (communicates) {
    FleetOptions fleet_options;
    if (const char* ifname = std::getenv("GLOO_SOCKET_IFNAME")) fleet_options.interface = ifname;
    if (const char* host = std::getenv("FLEET_HOST")) fleet_options.host = host;
    FLEET_ASSIGN_OR_RETURN(fleet, Fleet::Init(role, fleet_options));
    err << "fleet-run: " << role.DebugString() << "\n";
    FLEET_RETURN_IF_ERROR(fleet->InitWorker());
    if (fleet->communicator() != nullptr) {
      err << "fleet-run: " << role.Name() << ": collectives over "
          << fleet->communicator()->transport() << "\n";
      options.before_first_step = [&fleet, &before_steps] {
        before_steps = fleet->CollectiveStats();
      };
    } else {
      err << "fleet-run: " << role.Name() << ": connected to " << role.num_servers
          << (role.num_servers == 1 ? " parameter server\n" : " parameter servers\n");
    }
    options.env = fleet->env();
    if (ps::PsClient* client = fleet->ps_client()) {
      options.before_first_step = [client, &ps_before_steps] {
        ps_before_steps = client->traffic();
      };
      // The job's checkpoint spans the servers: worker 0 has them write their parts.
      options.save_checkpoint = [client, &fleet](const std::string& dir, const Program& trainer,
                                                 const Scope& scope, const CheckpointInfo& info) {
        return ps::SaveJobCheckpoint(*client, fleet->ps_communicator(), dir, trainer, scope, info);
      };
      options.load_checkpoint = &ps::LoadJobCheckpointTrainer;
    }
    options.shard_index = role.index;
    options.num_shards = role.num_workers;
  }
  const bool per_rank_metrics = o.metrics_out.find("{rank}") != std::string::npos;
  if (first || per_rank_metrics) options.metrics_out = ForRank(o.metrics_out, role.index);
  if (first) {
    options.save_dir = o.save;
    options.save_every = o.save_every;
    // A parameter-server job exports from a checkpoint; without --save, one beside the model.
    if (parameter_server && !o.export_path.empty() && o.save.empty()) {
      options.save_dir = o.export_path + ".checkpoint";
    }
  }

  DataSpec spec;
  spec.path = o.data;
  spec.format = o.data_format;
  spec.slots = o.slots;
  for (const Var& v : main.main().vars()) {
    if (v.Has(kVarFeed)) spec.names.push_back(v.name);
  }
  spec.criteo.label_name = options.label_var;
  if (const Var* label = main.main().FindVar(options.label_var)) {
    if (label->dtype == DataType::kI64) spec.criteo.label_dtype = DataType::kI64;
  }
  if (std::optional<int64_t> rows = EmbeddingRowsFor(main.main(), "C1")) {
    spec.criteo.table_size = *rows;  // Criteo ids are hashed into the model's own tables
  }
  // A parameter-server worker reads whole files of several (barriers count only live workers,
  // so shares of unequal size are fine); collective workers must take equal steps, and one
  // data source is shared record by record.
  if (parameter_server && role.num_workers > 1) {
    FLEET_ASSIGN_OR_RETURN(std::vector<std::string> sources,
                           ListDataSources(o.data, o.data_format));
    if (sources.size() > 1) {
      FLEET_ASSIGN_OR_RETURN(FileShard shard, ShardFiles(sources, role.index, role.num_workers));
      err << "fleet-run: " << shard.description << "\n";
      spec.files = std::move(shard.files);
      options.shard_index = 0;
      options.num_shards = 1;
    }
  }
  FLEET_ASSIGN_OR_RETURN(std::shared_ptr<const Dataset> dataset, OpenDataset(spec));

  KernelTable kernels;
  RegisterCpuKernels(kernels);
  if (fleet != nullptr) Fleet::RegisterKernels(kernels);
  RunDeviceOptions device_options;
  device_options.device = o.device;
  device_options.allow_tf32 = !o.no_tf32;
  FLEET_ASSIGN_OR_RETURN(std::unique_ptr<RunDevice> device,
                         RunDevice::Open(device_options, kernels));
  // On a GPU the steps run a placed copy of the program (devices and copies in it); `main`
  // stays as transpiled, for checkpoints that load anywhere and for export.
  std::optional<Program> placed;
  if (!device->is_host()) {
    if (parameter_server) {
      return absl::UnimplementedError(
          "--device: parameter-server workers train on the host only for now (hint: --device "
          "cpu)");
    }
    // A collective job averages its gradients where they are: between the ranks' GPUs.
    if (fleet != nullptr) RegisterDeviceCollectiveKernels(kernels, device->id().type);
    placed = main;
    FLEET_ASSIGN_OR_RETURN(std::vector<std::string> on_host, device->Place(*placed, kernels));
    err << "fleet-run: training on " << device->description() << "\n";
    if (!on_host.empty()) {
      err << "fleet-run: no " << DeviceName(device->id().type)
          << " kernel, so on the host: " << absl::StrJoin(on_host, ", ") << "\n";
    }
    std::shared_ptr<ExecutionEnv> env =
        fleet != nullptr ? fleet->env() : std::make_shared<ExecutionEnv>();
    device->InstallIn(*env);
    if (fleet != nullptr) {
      FLEET_RETURN_IF_ERROR(fleet->InitDeviceCommunicator(device->CommunicatorFactory()));
      err << "fleet-run: " << role.Name() << ": collectives on " << device->id().ToString()
          << " over " << fleet->device_communicator()->transport() << "\n";
    }
    options.env = env;
    options.devices = device->contexts();
    // Batches are gathered into pinned memory on the reader's thread and uploaded without
    // waiting (PyTorch's pin_memory with non_blocking copies).
    options.batch_allocator = device->batch_allocator();
  }
  SetCpuMathThreads(o.op_threads);
  SetCpuRandomSeed(o.seed);
  Scope state;
  // Every worker takes part in gathering the spread optimizer state at each save; worker 0
  // writes.
  CommunicatorStats synced;  // the collectives of those syncs, not of the steps
  if (communicates && sync != nullptr && !o.save.empty()) {
    FLEET_RETURN_IF_ERROR(Verify(*sync));
    options.save_dir = o.save;
    options.save_every = o.save_every;
    options.save_checkpoint =
        SyncedCheckpointWriter(*sync, kernels, options.env, state, first, &synced);
  }
  if (placed) {
    // Checkpoints are of the program as transpiled, not of its placed copy, so that they load
    // on any device.
    auto save = options.save_checkpoint ? options.save_checkpoint : &SaveCheckpoint;
    options.save_checkpoint = [save, &main](const std::string& dir, const Program&,
                                            const Scope& scope, const CheckpointInfo& info) {
      return save(dir, main, scope, info);
    };
    auto load = options.load_checkpoint ? options.load_checkpoint : &LoadCheckpoint;
    options.load_checkpoint = [load, &main](const std::string& dir, const Program&, Scope& scope) {
      return load(dir, main, scope);
    };
  }
  FLEET_ASSIGN_OR_RETURN(
      TrainResult r, Train(placed ? *placed : main, startup ? &*startup : nullptr, state, dataset,
                           kernels, options, err));

  std::string line = absl::StrCat(
      "fleet-run: trained ", r.steps, " steps",
      r.first_step > 0 ? absl::StrCat(" (", r.first_step + 1, "-", r.first_step + r.steps, ")")
                       : "",
      ", ", Thousands(static_cast<double>(r.samples)), " samples in ",
      absl::StrFormat("%.2f", r.seconds), " s (",
      Thousands(r.seconds > 0 ? static_cast<double>(r.samples) / r.seconds : 0), " samples/s, ",
      o.threads, o.threads == 1 ? " thread" : " threads",
      o.op_threads > 1 ? absl::StrCat(" x ", o.op_threads, " op threads") : "", "); final loss ",
      absl::StrFormat("%.6g (avg %.6g)", r.final_loss, r.smoothed_loss));
  for (const auto& [name, value] : r.metrics)
    absl::StrAppend(&line, absl::StrFormat(", %s %.4f", name, value));
  RunPlace place;
  place.rank = role.index;
  place.world = role.num_workers;
  CommunicatorStats comm;
  if (fleet != nullptr && fleet->communicator() != nullptr) {
    comm = Difference(Difference(fleet->CollectiveStats(), before_steps), synced);
    place.comm = &comm;
    // The steps' collectives run on the device's communicator when there is one.
    Communicator* steps = fleet->device_communicator() != nullptr ? fleet->device_communicator()
                                                                  : fleet->communicator();
    place.transport = steps->transport();
    absl::StrAppend(&line, " [", role.Name(), " of ", role.num_workers,
                    "]\nfleet-run: ", OverlapLine(comm, r.waits));
  } else if (fleet != nullptr) {
    absl::StrAppend(&line, " [", role.Name(), " of ", role.num_workers, "]");
  }
  ps::PsTraffic traffic;
  if (fleet != nullptr && fleet->ps_client() != nullptr) {
    const ps::PsTraffic total = fleet->ps_client()->traffic();
    traffic.calls = total.calls - ps_before_steps.calls;
    traffic.bytes_sent = total.bytes_sent - ps_before_steps.bytes_sent;
    traffic.bytes_received = total.bytes_received - ps_before_steps.bytes_received;
    place.ps = &traffic;
    absl::StrAppend(
        &line, "\nfleet-run: parameter servers: ", traffic.calls, " calls, ",
        HumanBytes(traffic.bytes_sent), " sent, ", HumanBytes(traffic.bytes_received),
        " received (",
        HumanBytes(r.steps > 0 ? (traffic.bytes_sent + traffic.bytes_received) / r.steps : 0),
        " per step)");
  }
  const std::optional<RunPlace::Amp> amp = MixedPrecisionState(state);
  if (amp) {
    place.amp = &*amp;
    absl::StrAppend(&line, "\nfleet-run: ", MixedPrecisionLine(*amp));
  }
  if (const std::string memory = device->MemoryLine(); !memory.empty()) {
    absl::StrAppend(&line, "\nfleet-run: ", memory);
  }
  if (fleet != nullptr) FLEET_RETURN_IF_ERROR(fleet->StopWorker());
  out << line << "\n";
  if (!o.summary_out.empty() && (first || o.summary_out.find("{rank}") != std::string::npos)) {
    FLEET_RETURN_IF_ERROR(WriteRunSummary(ForRank(o.summary_out, role.index), r, place));
  }
  if (!first) return absl::OkStatus();  // worker 0 saves and exports the shared parameters
  if (!o.save.empty()) {
    out << "fleet-run: saved checkpoint " << o.save << " (step " << r.first_step + r.steps << ")\n";
  }
  if (!o.export_path.empty() && parameter_server) {
    // The trained values live on the servers: export from the checkpoint they wrote.
    programs.programs[kMainProgram] = main;
    return ExportJobCheckpoint(programs, options.save_dir, o, out);
  }
  if (!o.export_path.empty()) {
    FLEET_ASSIGN_OR_RETURN(Program forward, ForwardProgram(main, state));
    FLEET_RETURN_IF_ERROR(ExportOnnxFile(forward, o.export_path));
    out << "fleet-run: exported the trained model to " << o.export_path << "\n";
  }
  return absl::OkStatus();
}

}  // namespace fleet
