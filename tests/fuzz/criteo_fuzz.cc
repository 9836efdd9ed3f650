// Fuzzes the Criteo TSV reader (executor/data/criteo_dataset.h): the input is one file of click
// logs, every line gathered. A first line of 39 fields reads the file as Criteo's test set does
// (no label column), any other as training logs with a label, so both layouts are explored
// while each input is opened once.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "executor/data/criteo_dataset.h"
#include "tests/fuzz/dataset_gather.h"
#include "tests/fuzz/scratch_dir.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const std::string_view first_line = input.substr(0, input.find('\n'));
  const auto fields = 1 + std::count(first_line.begin(), first_line.end(), '\t');
  fleet::CriteoOptions options;
  if (fields == fleet::kCriteoDense + fleet::kCriteoSparse) {
    options.label_name.clear();
    options.label_dtype = fleet::DataType::kI64;
  }
  const std::string path = fleet::fuzz::WriteScratchFile("day_0.tsv", input);
  auto dataset = fleet::OpenCriteoDataset(path, options);
  if (dataset.ok()) fleet::fuzz::GatherEveryRecord(**dataset);
  return 0;
}
