// Fuzzes the checkpoint loader's manifest handling (executor/training/checkpoint.h): the input is
// manifest.json of a checkpoint folder that also holds a valid w.npy, loaded into a fixed
// program with the persistable var w : f32[2,3]. Only a manifest naming w.npy with the program's
// fingerprint loads, and then the scope must hold w's saved values.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "executor/npy.h"
#include "executor/scope.h"
#include "executor/training/checkpoint.h"
#include "ir/text_format.h"
#include "tests/fuzz/scratch_dir.h"

namespace {

const fleet::Program& FixedProgram() {
  static const fleet::Program program = [] {
    auto p = fleet::ParseProgramText(
        "fleet.program v2\n"
        "block 0 {\n"
        "  var %w : f32[2,3] persistable parameter\n"
        "}\n",
        "fixed.txt");
    if (!p.ok()) std::abort();
    return *std::move(p);
  }();
  return program;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fleet::Tensor w(fleet::DataType::kF32, {2, 3});
  for (int i = 0; i < 6; ++i) w.data<float>()[i] = static_cast<float>(i);
  if (!fleet::WriteNpy((fleet::fuzz::ScratchDir() / "w.npy").string(), w).ok()) std::abort();
  (void)FixedProgram();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fleet::fuzz::WriteScratchFile("manifest.json",
                                std::string_view(reinterpret_cast<const char*>(data), size));
  fleet::Scope scope;
  auto info = fleet::LoadCheckpoint(fleet::fuzz::ScratchDir().string(), FixedProgram(), scope);
  if (!info.ok()) return 0;
  const fleet::Tensor* w = scope.Find("w");
  if (w == nullptr || w->numel() != 6) std::abort();
  for (int i = 0; i < 6; ++i) {
    if (w->data<float>()[i] != static_cast<float>(i)) std::abort();
  }
  return 0;
}
