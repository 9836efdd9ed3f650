// fleet-run: trains a transpiled job, or runs a model's forward pass.
//
//   fleet-run job/ --data train/ --batch 64 --epochs 2 [--threads N] [--save ckpt/] ...
//   fleet-run model.onnx --infer --input x=x.npy [--input ...] --output-dir out/ [--threads N]
//
// Training (tools/train_command.h) is the default for programs with optimizer ops. --infer
// imports the model, feeds every graph input from a .npy file, runs the forward pass on the CPU
// (or on --device cuda:N) and writes each graph output to out/<output name>.npy.
#include <filesystem>
#include <iostream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "executor/executor.h"
#include "executor/npy.h"
#include "ir/status_macros.h"
#include "kernels/cpu/register.h"
#include "tools/inference_pipeline.h"
#include "tools/program_loader.h"
#include "tools/run_device.h"
#include "tools/train_command.h"
#include "tools/version.h"

namespace fleet {
namespace {

// A file name for an output var: ONNX names may hold '/', ':' and the like.
std::string FileNameFor(const std::string& var) {
  std::string out;
  for (char c : var)
    out +=
        (std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-') ? c : '_';
  return out;
}

absl::Status Infer(const std::string& model_path, const std::vector<std::string>& input_args,
                   const std::string& output_dir, int threads, bool optimize,
                   const RunDeviceOptions& device_options) {
  FLEET_ASSIGN_OR_RETURN(Program program, LoadProgram(model_path));
  if (optimize) FLEET_RETURN_IF_ERROR(OptimizeForInference(program));
  KernelTable kernels;
  RegisterCpuKernels(kernels);
  FLEET_ASSIGN_OR_RETURN(std::unique_ptr<RunDevice> device,
                         RunDevice::Open(device_options, kernels));
  SetCpuMathThreads(threads);
  ExecutorOptions options;
  options.num_threads = threads;
  if (!device->is_host()) {
    // The weights are uploaded by the copies Place inserts; the outputs come back below.
    FLEET_ASSIGN_OR_RETURN(std::vector<std::string> on_host, device->Place(program, kernels));
    std::cerr << "fleet-run: running on " << device->description() << "\n";
    if (!on_host.empty()) {
      std::cerr << "fleet-run: no " << DeviceName(device->id().type)
                << " kernel, so on the host: " << absl::StrJoin(on_host, ", ") << "\n";
    }
    auto env = std::make_shared<ExecutionEnv>();
    device->InstallIn(*env);
    options.env = std::move(env);
    options.devices = device->contexts();
  }
  FLEET_ASSIGN_OR_RETURN(auto executor, Executor::Create(program, kernels, options));

  std::map<std::string, std::string> given;  // input name -> file
  for (const std::string& arg : input_args) {
    size_t eq = arg.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == arg.size()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--input '", arg, "': expected NAME=FILE.npy"));
    }
    given[arg.substr(0, eq)] = arg.substr(eq + 1);
  }
  const std::vector<std::string>& feeds = executor->feed_names();
  std::string expected = absl::StrJoin(feeds, ", ");
  for (const auto& [name, file] : given) {
    if (std::find(feeds.begin(), feeds.end(), name) == feeds.end()) {
      return absl::InvalidArgumentError(absl::StrCat("--input ", name, ": ", model_path,
                                                     " has no input '", name,
                                                     "'; its inputs are: ", expected));
    }
  }
  Scope params;
  MoveValuesIntoScope(program, params);
  Scope scope(&params);
  for (const std::string& name : feeds) {
    auto it = given.find(name);
    if (it == given.end()) {
      return absl::InvalidArgumentError(absl::StrCat("input '", name, "' of ", model_path,
                                                     " is not given; pass --input ", name,
                                                     "=FILE.npy (inputs: ", expected, ")"));
    }
    FLEET_ASSIGN_OR_RETURN(Tensor t, ReadNpy(it->second));
    scope.Set(name, std::move(t));
  }
  absl::Status run = executor->Run(scope);
  if (!run.ok()) {
    // Feed mismatches name the input; say which file it came from.
    for (const auto& [name, file] : given) {
      if (absl::StrContains(run.message(), absl::StrCat("input '", name, "'"))) {
        return absl::Status(run.code(), absl::StrCat(file, ": ", run.message()));
      }
    }
    return run;
  }
  std::error_code ec;
  std::filesystem::create_directories(output_dir, ec);
  if (ec) {
    return absl::PermissionDeniedError(
        absl::StrCat(output_dir, ": cannot create folder: ", ec.message()));
  }
  std::set<std::string> files;
  for (const std::string& name : executor->fetch_names()) {
    const Tensor* t = scope.Find(name);
    if (t == nullptr) return absl::InternalError(absl::StrCat("output '", name, "' missing"));
    // Names that map to one file name ("a/b", "a:b") get a numeric suffix instead of
    // overwriting each other.
    std::string file = FileNameFor(name);
    for (int k = 1; !files.insert(file).second; ++k)
      file = FileNameFor(name) + "." + std::to_string(k);
    std::string path = (std::filesystem::path(output_dir) / (file + ".npy")).string();
    FLEET_RETURN_IF_ERROR(WriteNpy(path, t->host_accessible() ? *t : t->Clone(CpuAllocator())));
    std::cout << name << ": " << t->TypeString() << " -> " << path << "\n";
  }
  return absl::OkStatus();
}

}  // namespace
}  // namespace fleet

int main(int argc, char** argv) {
  CLI::App app{
      "fleet-run: train a job, or run a model.\n"
      "Training (the default for a program with optimizer ops): JOB is a job folder from\n"
      "fleet-transpile: manifest.pbtxt names its programs and their files (main.program,\n"
      "startup.program, ...); a single Fleet program file is a job of one program. Runs the\n"
      "startup program once, then the main program on every batch of --data; progress on\n"
      "standard error, a summary on standard output.\n"
      "With --infer: import MODEL (.onnx, a Fleet program file, or a job folder's main\n"
      "program), feed each input from a\n"
      ".npy file, run the forward pass on the CPU (or --device) and write every output to\n"
      "OUTPUT_DIR/<output name>.npy."};
  std::string model;
  bool infer = false;
  std::vector<std::string> inputs;
  std::string output_dir = "out";
  int threads = 1;
  bool no_optimize = false;
  fleet::TrainCommandOptions train;
  app.add_option("model", model, "the job folder, or the .onnx model or Fleet program file")
      ->required();
  app.add_flag("--infer", infer, "run the forward pass once (inference)");
  app.add_option("--input", inputs, "--infer: NAME=FILE.npy, once per model input");
  app.add_option("--output-dir", output_dir, "--infer: folder for the output .npy files")
      ->capture_default_str();
  app.add_option("--threads", threads,
                 "training: Hogwild worker threads, each running its own batches and updating "
                 "the shared parameters without locks (1 is deterministic); --infer: CPU "
                 "threads for one op")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  app.add_flag("--no-optimize", no_optimize,
               std::string("--infer: run the program as given, without the inference passes (") +
                   fleet::kInferencePipeline + ")");
  fleet::AddTrainFlags(app, train);
  app.set_version_flag("--version", [] { return fleet::VersionText("fleet-run"); });
  CLI11_PARSE(app, argc, argv);
  if (!fleet::CheckCpuIsaEnvironmentOrReport("fleet-run")) return 2;
  fleet::FinishTrainFlags(app, train);
  train.threads = threads;
  fleet::RunDeviceOptions device;
  device.device = train.device;
  device.allow_tf32 = !train.no_tf32;
  absl::Status s = infer ? fleet::Infer(model, inputs, output_dir, threads, !no_optimize, device)
                         : fleet::RunTrainCommand(model, train, std::cout, std::cerr);
  if (!s.ok()) {
    std::cerr << "fleet-run: error: " << s.message() << "\n";
    return 1;
  }
  return 0;
}
