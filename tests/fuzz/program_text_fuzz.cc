// Fuzzes the program text parser (ir/text_format.h): any text either fails with a status or
// parses into a program that the verifier may check without crashing, and whose printed form
// round-trips (print -> parse -> print gives the same text), the property the golden pass tests
// rely on.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "ir/text_format.h"
#include "ir/verify.h"
#include "tests/fuzz/round_trip.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto program = fleet::ParseProgramText(text, "fuzz.txt");
  if (!program.ok()) return 0;
  (void)fleet::Verify(*program);  // any verdict is fine; a crash is not
  fleet::fuzz::CheckTextRoundTrip(*program);
  return 0;
}
