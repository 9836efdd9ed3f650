// Fuzzes the .npy reader (executor/npy.h) with arbitrary bytes: ParseNpy must refuse anything
// malformed with a status and never read outside the input. A tensor it accepts must hold
// exactly the header's payload.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "executor/npy.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  auto header = fleet::ParseNpyHeader(bytes.data(), bytes.size(), "fuzz.npy");
  auto tensor = fleet::ParseNpy(bytes, "fuzz.npy");
  if (tensor.ok() != header.ok()) std::abort();  // both read the same header
  if (tensor.ok()) {
    // A copy of every byte the header promised: touching them all lets ASan see an overread.
    const fleet::Tensor copy = tensor->Clone();
    if (copy.nbytes() != header->data_bytes) std::abort();
  }
  return 0;
}
