// Fuzzes ONNX import (ir/onnx/importer.h) and the verifier: any bytes either fail with a status
// or import into a program the verifier accepts, and whose text form round-trips. External data
// is looked up in a scratch folder holding one small file, weights.bin, so the fuzzer can reach
// both a readable file and every way out of the folder (absolute paths, "..", links) that the
// importer must refuse.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "google/protobuf/stubs/logging.h"
#include "ir/onnx/importer.h"
#include "ir/verify.h"
#include "onnx/onnx_pb.h"
#include "tests/fuzz/round_trip.h"
#include "tests/fuzz/scratch_dir.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  google::protobuf::SetLogHandler(nullptr);  // protobuf's complaints about each bad input
  // 64 bytes: 16 f32 values 0..15, enough for small external initializers.
  std::string weights;
  for (int i = 0; i < 16; ++i) {
    const float v = static_cast<float>(i);
    weights.append(reinterpret_cast<const char*>(&v), sizeof(v));
  }
  fleet::fuzz::WriteScratchFile("weights.bin", weights);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  onnx::ModelProto model;
  if (!model.ParseFromArray(data, static_cast<int>(size))) return 0;
  auto program =
      fleet::ImportOnnxModel(std::move(model), "fuzz.onnx", fleet::fuzz::ScratchDir().string());
  if (!program.ok()) return 0;
  // The importer promises a program the passes can take: verified.
  if (absl::Status verified = fleet::Verify(*program); !verified.ok()) {
    std::fprintf(stderr, "an imported model fails Verify: %s\n",
                 std::string(verified.message()).c_str());
    std::abort();
  }
  fleet::fuzz::CheckTextRoundTrip(*program);
  return 0;
}
