// Fuzzes Paddle's MultiSlot text format (executor/data/multislot_dataset.h). The input's first
// line is the slot config ("label:int64,dense:float:3,ids:uint64:var"), so the fuzzer explores
// the config parser and every slot shape; the remaining lines are the records, each gathered.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "executor/data/multislot_dataset.h"
#include "tests/fuzz/dataset_gather.h"
#include "tests/fuzz/scratch_dir.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const size_t newline = input.find('\n');
  if (newline == std::string_view::npos) return 0;
  auto slots = fleet::ParseSlotSpecs(std::string(input.substr(0, newline)));
  if (!slots.ok()) return 0;
  const std::string path = fleet::fuzz::WriteScratchFile("part-0", input.substr(newline + 1));
  auto dataset = fleet::OpenMultiSlotDataset(path, *slots);
  if (dataset.ok()) fleet::fuzz::GatherEveryRecord(**dataset);
  return 0;
}
