// Gathers every record of a Dataset, for the data-format fuzz targets. Records go in groups of
// 16 (one Gather allocates a batch's tensors, the costly part under the sanitizers); a group that
// fails is gathered again record by record, so a malformed line does not hide the lines after
// it. Statuses are the expected answer to bad records; only crashes and sanitizer reports are
// findings.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "executor/data/reader.h"

namespace fleet::fuzz {

inline void GatherEveryRecord(const Dataset& dataset) {
  constexpr int64_t kGroup = 16;
  std::vector<int64_t> rows;
  for (int64_t first = 0; first < dataset.num_records(); first += kGroup) {
    rows.clear();
    for (int64_t row = first; row < std::min(first + kGroup, dataset.num_records()); ++row) {
      rows.push_back(row);
    }
    Batch batch;
    if (dataset.Gather(rows, batch).ok()) continue;
    for (const int64_t row : rows) {
      Batch one;
      const int64_t single[] = {row};
      (void)dataset.Gather(single, one);
    }
  }
}

}  // namespace fleet::fuzz
