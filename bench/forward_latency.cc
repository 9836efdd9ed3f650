// fleet-bench-forward: forward-pass latency and peak memory of one model on the CPU.
//
//   fleet-bench-forward model.onnx --batch 32 --threads 2 --iters 50 --warmup 5
//
// Feeds random inputs (floats ~ N(0,1); integer ids uniform over the rows of the Gather table
// they index, else [0,10)), runs `warmup` untimed then `iters` timed forward passes, and prints
// one JSON line: model, batch, threads, median_ms, p90_ms, peak_rss_mb. bench/forward_bench.py
// runs it beside ONNX Runtime and prints the table.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "executor/executor.h"
#include "ir/status_macros.h"
#include "kernels/cpu/register.h"
#include "tools/inference_pipeline.h"
#include "tools/program_loader.h"
#include "tools/version.h"

namespace fleet {
namespace {

// Rows of the table a Gather reads with `input` as its indices, or 10 when none does.
int64_t IdRange(const Program& program, const std::string& input) {
  for (const Op& op : program.main().ops) {
    const Slot* indices = op.FindInput("indices");
    const Slot* data = op.FindInput("data");
    if (op.type != "Gather" || indices == nullptr || data == nullptr || data->vars.empty() ||
        indices->vars.empty() || indices->vars[0] != input) {
      continue;
    }
    const Var* table = program.main().FindVar(data->vars[0]);
    if (table != nullptr && table->shape.has_value() && !table->shape->empty() &&
        (*table->shape)[0] > 0) {
      return (*table->shape)[0];
    }
  }
  return 10;
}

absl::StatusOr<Tensor> RandomInput(const Program& program, const Var& var, int64_t batch,
                                   std::mt19937_64& rng) {
  if (!var.shape.has_value()) {
    return absl::InvalidArgumentError("input '" + var.name + "' has no known rank");
  }
  std::vector<int64_t> shape = *var.shape;
  for (int64_t& d : shape) {
    if (d < 0) d = batch;
  }
  Tensor t(var.dtype, shape);
  if (var.dtype == DataType::kF32) {
    std::normal_distribution<float> dist;
    for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = dist(rng);
  } else if (var.dtype == DataType::kI64 || var.dtype == DataType::kI32) {
    std::uniform_int_distribution<int64_t> dist(0, IdRange(program, var.name) - 1);
    for (int64_t i = 0; i < t.numel(); ++i) {
      if (var.dtype == DataType::kI64) t.data<int64_t>()[i] = dist(rng);
      else t.data<int32_t>()[i] = static_cast<int32_t>(dist(rng));
    }
  } else {
    return absl::UnimplementedError("input '" + var.name + "' has dtype " +
                                    DataTypeName(var.dtype) + "; the benchmark feeds f32/i64/i32");
  }
  return t;
}

absl::Status Bench(const std::string& model, int64_t batch, int threads, int iters, int warmup,
                   bool profile, bool optimize) {
  FLEET_ASSIGN_OR_RETURN(Program program, LoadProgram(model));
  if (optimize) FLEET_RETURN_IF_ERROR(OptimizeForInference(program));
  KernelTable kernels;
  RegisterCpuKernels(kernels);
  SetCpuMathThreads(threads);
  ExecutorOptions options;
  options.num_threads = threads;
  options.profile = profile;
  FLEET_ASSIGN_OR_RETURN(auto executor, Executor::Create(program, kernels, options));
  Scope params;
  MoveValuesIntoScope(program, params);
  Scope feeds(&params);
  std::mt19937_64 rng(42);
  for (const std::string& name : executor->feed_names()) {
    FLEET_ASSIGN_OR_RETURN(Tensor t, RandomInput(program, *program.main().FindVar(name), batch, rng));
    feeds.Set(name, std::move(t));
  }
  for (int i = 0; i < warmup; ++i) FLEET_RETURN_IF_ERROR(executor->Run(feeds));
  std::vector<double> ms;
  for (int i = 0; i < iters; ++i) {
    auto start = std::chrono::steady_clock::now();
    FLEET_RETURN_IF_ERROR(executor->Run(feeds));
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
                     .count());
  }
  std::sort(ms.begin(), ms.end());
  double median = ms[ms.size() / 2];
  double p90 = ms[std::min(ms.size() - 1, ms.size() * 9 / 10)];
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  std::printf(
      "{\"model\": \"%s\", \"batch\": %lld, \"threads\": %d, \"median_ms\": %.4f, "
      "\"p90_ms\": %.4f, \"peak_rss_mb\": %.1f}\n",
      std::filesystem::path(model).stem().c_str(), static_cast<long long>(batch), threads, median,
      p90, usage.ru_maxrss / 1024.0);
  if (profile) {  // to stderr, so the JSON line stays the last line of stdout
    double total = 0;
    for (const OpTypeProfile& p : executor->Profile()) total += p.total_ms;
    for (const OpTypeProfile& p : executor->Profile()) {
      std::fprintf(stderr, "%-24s %9.3f ms/run %5.1f%%\n", p.op_type.c_str(),
                   p.total_ms / (warmup + iters), 100.0 * p.total_ms / total);
    }
  }
  return absl::OkStatus();
}

}  // namespace
}  // namespace fleet

int main(int argc, char** argv) {
  CLI::App app{"fleet-bench-forward: forward-pass latency and peak memory of one model"};
  std::string model;
  int64_t batch = 1;
  int threads = 1, iters = 50, warmup = 5;
  bool profile = false;
  bool no_optimize = false;
  app.add_option("model", model, "the .onnx model or Fleet program file")->required();
  app.add_option("--batch", batch, "batch size for dynamic dimensions")->capture_default_str();
  app.add_option("--threads", threads, "CPU threads")->capture_default_str()->check(CLI::Range(1, 256));
  app.add_option("--iters", iters, "timed runs")->capture_default_str()->check(CLI::Range(1, 100000));
  app.add_option("--warmup", warmup, "untimed runs first")->capture_default_str();
  app.add_flag("--profile", profile, "print time per op type to standard error");
  app.add_flag("--no-optimize", no_optimize, "skip the inference passes fleet-run runs");
  app.set_version_flag("--version", [] { return fleet::VersionText("fleet-bench-forward"); });
  CLI11_PARSE(app, argc, argv);
  if (!fleet::CheckCpuIsaEnvironmentOrReport("fleet-bench-forward")) return 2;
  absl::Status s = fleet::Bench(model, batch, threads, iters, warmup, profile, !no_optimize);
  if (!s.ok()) {
    std::cerr << "fleet-bench-forward: error: " << s.message() << "\n";
    return 1;
  }
  return 0;
}
