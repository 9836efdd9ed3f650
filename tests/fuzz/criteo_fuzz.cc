// Fuzzes the Criteo TSV reader (executor/data/criteo_dataset.h): the input is one file of click
// logs; every line is gathered as a record, with and without the label column.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "executor/data/criteo_dataset.h"
#include "tests/fuzz/dataset_gather.h"
#include "tests/fuzz/scratch_dir.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = fleet::fuzz::WriteScratchFile(
      "day_0.tsv", std::string_view(reinterpret_cast<const char*>(data), size));
  fleet::CriteoOptions with_label;
  fleet::CriteoOptions without_label;
  without_label.label_name.clear();
  without_label.label_dtype = fleet::DataType::kI64;
  for (const fleet::CriteoOptions& options : {with_label, without_label}) {
    auto dataset = fleet::OpenCriteoDataset(path, options);
    if (dataset.ok()) fleet::fuzz::GatherEveryRecord(**dataset);
  }
  return 0;
}
