// Runs ONNX's backend node test cases (model.onnx + test_data_set_N/{input,output}_M.pb) through
// Fleet's importer and CPU executor and compares outputs with ONNX's default tolerances
// (rtol 1e-3, atol 1e-7; exact for integers and bools; NaN equals NaN).
//
// Usage: fleet-conformance DIR [--filter REGEX] [--threads N] [--quiet] [--roundtrip]
// --roundtrip runs each model after import -> ONNX export -> binary program file -> read back
// -> export -> import, so the serialized forms are checked on every case too.
// Prints PASS / FAIL / UNSUPPORTED per case and a summary line; exits 1 when any case FAILs.
// UNSUPPORTED means the importer or kernel table said so (UNIMPLEMENTED / NOT_FOUND).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "executor/executor.h"
#include "executor/half.h"
#include "ir/bfloat16.h"
#include "ir/onnx/attribute_convert.h"
#include "ir/onnx/exporter.h"
#include "ir/onnx/importer.h"
#include "ir/serialize.h"
#include "kernels/cpu/register.h"
#include "tools/version.h"

namespace fleet {
namespace {

namespace fs = std::filesystem;

enum class Verdict { kPass, kFail, kUnsupported };

struct Outcome {
  Verdict verdict;
  std::string detail;
};

absl::StatusOr<Tensor> ReadTensorFile(const fs::path& path, std::string* name) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  onnx::TensorProto proto;
  if (!proto.ParseFromString(buffer.str())) {
    return absl::InvalidArgumentError(absl::StrCat(path.string(), ": not a TensorProto"));
  }
  *name = proto.name();
  auto value = TensorValueFromOnnx(proto, path.parent_path().string());
  if (!value.ok()) return value.status();
  return Tensor::FromValue(*value);
}

double ElementAsDouble(const Tensor& t, int64_t i) {
  switch (t.dtype()) {
    case DataType::kF32: return t.data<float>()[i];
    case DataType::kF64: return t.data<double>()[i];
    case DataType::kF16: return HalfToFloat(t.data<uint16_t>()[i]);
    case DataType::kBF16: return BFloat16ToFloat(t.data<uint16_t>()[i]);
    case DataType::kI64: return static_cast<double>(t.data<int64_t>()[i]);
    case DataType::kI32: return t.data<int32_t>()[i];
    case DataType::kI8: return t.data<int8_t>()[i];
    case DataType::kU8: return t.data<uint8_t>()[i];
    case DataType::kBool: return t.data<uint8_t>()[i] != 0;
    case DataType::kUndefined: return 0;
  }
  return 0;
}

// Empty when equal within tolerance, else a description of the first mismatch.
std::string Compare(const Tensor& expected, const Tensor& actual) {
  if (expected.dtype() != actual.dtype() || expected.shape() != actual.shape()) {
    return absl::StrCat("expected ", expected.TypeString(), ", got ", actual.TypeString());
  }
  bool exact = !IsFloatingPoint(expected.dtype());
  int64_t bad = 0;
  std::string first;
  for (int64_t i = 0; i < expected.numel(); ++i) {
    double e = ElementAsDouble(expected, i);
    double a = ElementAsDouble(actual, i);
    bool ok;
    if (exact) {
      ok = expected.dtype() == DataType::kI64
               ? expected.data<int64_t>()[i] == actual.data<int64_t>()[i]
               : e == a;
    } else if (std::isnan(e) || std::isnan(a)) {
      ok = std::isnan(e) && std::isnan(a);
    } else if (std::isinf(e) || std::isinf(a)) {
      ok = e == a;
    } else {
      ok = std::fabs(a - e) <= 1e-7 + 1e-3 * std::fabs(e);
    }
    if (!ok && bad++ == 0) {
      first = absl::StrCat("element ", i, ": expected ", e, ", got ", a);
    }
  }
  if (bad == 0) return "";
  return absl::StrCat(bad, " of ", expected.numel(), " elements differ; first at ", first);
}

bool IsUnsupported(const absl::Status& s) {
  return s.code() == absl::StatusCode::kUnimplemented || s.code() == absl::StatusCode::kNotFound;
}

std::vector<fs::path> SortedEntries(const fs::path& dir, const std::string& prefix) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().filename().string().rfind(prefix, 0) == 0) out.push_back(e.path());
  }
  // input_10 after input_9: order by the number after the prefix.
  std::sort(out.begin(), out.end(), [&](const fs::path& a, const fs::path& b) {
    auto num = [&](const fs::path& p) {
      return std::atoi(p.filename().string().c_str() + prefix.size());
    };
    return num(a) != num(b) ? num(a) < num(b) : a < b;
  });
  return out;
}

// import -> program file bytes -> read -> ONNX export -> import again.
absl::StatusOr<Program> RoundTrip(const Program& imported, const std::string& source) {
  auto binary = ParseProgramBinary(SerializeProgram(imported), source);
  if (!binary.ok()) return binary.status();
  auto model = ExportOnnxModel(*binary);
  if (!model.ok()) return model.status();
  return ImportOnnxModel(*std::move(model), source + " (exported)", "");
}

Outcome RunCase(const fs::path& dir, const KernelTable& kernels, int threads, bool roundtrip) {
  auto program = ImportOnnxFile((dir / "model.onnx").string());
  if (program.ok() && roundtrip) program = RoundTrip(*program, (dir / "model.onnx").string());
  if (!program.ok()) {
    return {IsUnsupported(program.status()) ? Verdict::kUnsupported : Verdict::kFail,
            std::string(program.status().message())};
  }
  ExecutorOptions options;
  options.num_threads = threads;
  auto executor = Executor::Create(*program, kernels, options);
  if (!executor.ok()) {
    return {IsUnsupported(executor.status()) ? Verdict::kUnsupported : Verdict::kFail,
            std::string(executor.status().message())};
  }
  // Graph outputs in the model's order (output_N.pb files follow it).
  onnx::ModelProto model;
  {
    std::ifstream in(dir / "model.onnx", std::ios::binary);
    model.ParseFromIstream(&in);
  }
  const std::vector<std::string>& feeds = (*executor)->feed_names();
  for (const fs::path& set : SortedEntries(dir, "test_data_set_")) {
    Scope scope;
    std::vector<fs::path> inputs = SortedEntries(set, "input_");
    if (inputs.size() != feeds.size()) {
      return {Verdict::kFail, absl::StrCat(set.filename().string(), ": ", inputs.size(),
                                           " input files for ", feeds.size(), " graph inputs")};
    }
    for (size_t i = 0; i < inputs.size(); ++i) {
      std::string name;
      auto t = ReadTensorFile(inputs[i], &name);
      if (!t.ok()) {
        return {IsUnsupported(t.status()) ? Verdict::kUnsupported : Verdict::kFail,
                std::string(t.status().message())};
      }
      scope.Set(feeds[i], *std::move(t));
    }
    absl::Status run = (*executor)->Run(scope);
    if (!run.ok()) {
      return {IsUnsupported(run) ? Verdict::kUnsupported : Verdict::kFail,
              std::string(run.message())};
    }
    std::vector<fs::path> outputs = SortedEntries(set, "output_");
    for (size_t i = 0; i < outputs.size(); ++i) {
      std::string name;
      auto expected = ReadTensorFile(outputs[i], &name);
      if (!expected.ok()) {  // e.g. a reference tensor of a type Fleet lacks
        return {IsUnsupported(expected.status()) ? Verdict::kUnsupported : Verdict::kFail,
                std::string(expected.status().message())};
      }
      std::string graph_output =
          static_cast<int>(i) < model.graph().output_size() ? model.graph().output(i).name() : name;
      const Tensor* actual = scope.Find(graph_output);
      if (actual == nullptr) {
        return {Verdict::kFail, absl::StrCat("output '", graph_output, "' was not produced")};
      }
      std::string diff = Compare(*expected, *actual);
      if (!diff.empty()) {
        return {Verdict::kFail, absl::StrCat(set.filename().string(), " output '", graph_output,
                                             "': ", diff)};
      }
    }
  }
  return {Verdict::kPass, ""};
}

int Main(int argc, char** argv) {
  std::string dir;
  std::string filter = ".*";
  int threads = 1;
  bool quiet = false;
  bool roundtrip = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--filter" && i + 1 < argc) {
      filter = argv[++i];
    } else if (arg == "--threads" && i + 1 < argc) {
      threads = std::atoi(argv[++i]);
    } else if (arg == "--quiet") {
      quiet = true;
    } else if (arg == "--roundtrip") {
      roundtrip = true;
    } else if (arg == "--version") {
      std::cout << VersionText("fleet-conformance") << "\n";
      return 0;
    } else if (arg == "--help" || arg == "-h") {
      std::cout << "usage: fleet-conformance DIR [--filter REGEX] [--threads N] [--quiet] "
                   "[--roundtrip] [--version]\n"
                   "Runs every ONNX node test case under DIR (test_*/model.onnx) and prints\n"
                   "PASS / FAIL / UNSUPPORTED per case; exits 1 when any case fails.\n"
                   "--quiet prints only failures and the summary.\n"
                   "--roundtrip runs each model after a trip through a program file and an\n"
                   "ONNX export.\n";
      return 0;
    } else if (dir.empty() && arg[0] != '-') {
      dir = arg;
    } else {
      std::cerr << "fleet-conformance: error: unexpected argument '" << arg << "'\n";
      return 2;
    }
  }
  if (!CheckCpuIsaEnvironmentOrReport("fleet-conformance")) return 2;
  if (dir.empty() || !fs::is_directory(dir)) {
    std::cerr << "fleet-conformance: error: give the folder of ONNX test cases (got '" << dir
              << "')\n";
    return 2;
  }
  std::regex pattern(filter, std::regex::icase);
  KernelTable kernels;
  RegisterCpuKernels(kernels);
  SetCpuMathThreads(threads);
  int pass = 0, fail = 0, unsupported = 0;
  std::vector<std::string> failed;
  for (const fs::path& c : SortedEntries(dir, "test_")) {
    std::string name = c.filename().string();
    if (!std::regex_search(name, pattern) || !fs::exists(c / "model.onnx")) continue;
    Outcome o = RunCase(c, kernels, threads, roundtrip);
    const char* tag = o.verdict == Verdict::kPass   ? "PASS"
                      : o.verdict == Verdict::kFail ? "FAIL"
                                                    : "UNSUPPORTED";
    if (o.verdict == Verdict::kPass) ++pass;
    if (o.verdict == Verdict::kFail) {
      ++fail;
      failed.push_back(name);
    }
    if (o.verdict == Verdict::kUnsupported) ++unsupported;
    if (!quiet || o.verdict == Verdict::kFail) {
      std::cout << tag << " " << name << (o.detail.empty() ? "" : ": ") << o.detail << "\n";
    }
  }
  std::cout << "onnx conformance: " << pass << " passed, " << fail << " failed, " << unsupported
            << " unsupported (" << pass + fail + unsupported << " cases)\n";
  for (const std::string& f : failed) std::cout << "  failed: " << f << "\n";
  return fail == 0 ? 0 : 1;
}

}  // namespace
}  // namespace fleet

int main(int argc, char** argv) { return fleet::Main(argc, argv); }
