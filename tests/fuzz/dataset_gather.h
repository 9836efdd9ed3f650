// Gathers every record of a Dataset one by one, for the data-format fuzz targets: each record is
// parsed on its own, so a malformed line does not hide the lines after it. Statuses are the
// expected answer to bad records; only crashes and sanitizer reports are findings.
#pragma once

#include <cstdint>

#include "executor/data/reader.h"

namespace fleet::fuzz {

inline void GatherEveryRecord(const Dataset& dataset) {
  for (int64_t row = 0; row < dataset.num_records(); ++row) {
    Batch batch;
    const int64_t rows[] = {row};
    (void)dataset.Gather(rows, batch);
  }
}

}  // namespace fleet::fuzz
