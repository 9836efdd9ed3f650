// Fuzzes the binary program reader (ir/serialize.h): any bytes either fail with a status or give
// a program that the verifier may check without crashing. An accepted program must serialize to
// bytes that read back into the same bytes again (serialization is deterministic), and its text
// form must round-trip (tests/fuzz/round_trip.h).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "google/protobuf/stubs/logging.h"
#include "ir/serialize.h"
#include "ir/verify.h"
#include "tests/fuzz/round_trip.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  google::protobuf::SetLogHandler(nullptr);  // protobuf's complaints about each bad input
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto program = fleet::ParseProgramBinary(bytes, "fuzz.bin");
  if (!program.ok()) return 0;
  (void)fleet::Verify(*program);  // any verdict is fine; a crash is not
  const std::string first = fleet::SerializeProgram(*program);
  auto reread = fleet::ParseProgramBinary(first, "reserialized.bin");
  if (!reread.ok()) {
    std::fprintf(stderr, "an accepted program serializes to bytes that do not read: %s\n",
                 std::string(reread.status().message()).c_str());
    std::abort();
  }
  if (fleet::SerializeProgram(*reread) != first) {
    std::fprintf(stderr, "serialize(parse(serialize(p))) != serialize(p)\n");
    std::abort();
  }
  fleet::fuzz::CheckTextRoundTrip(*program);
  return 0;
}
