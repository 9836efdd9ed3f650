// Criteo's raw click-log format (the Display Advertising Challenge TSV): per line, tab-separated,
//   label \t I1 .. I13 \t C1 .. C26
// with integer counts I1..I13 and categorical values C1..C26 as hex strings (e.g. "68fd1e64").
// Any feature may be empty (missing). Each record becomes
//   dense  f32[B,13]  log(1 + x) for x > 0, else 0 (missing and negative counts give 0) — the
//                     usual CTR preprocessing (as in DLRM), which keeps heavy-tailed counts small;
//   C1..C26 i64[B]    CriteoHashId(slot, value, table_size): a stable hash of (slot, value) in
//                     [1, table_size); a missing value gets the reserved id 0;
//   label  f32[B] or i64[B]  0 or 1.
// Names and the table size are options (the defaults match models/ctr_dnn.py).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "executor/data/reader.h"
#include "ir/dtype.h"

namespace fleet {

constexpr int kCriteoDense = 13;
constexpr int kCriteoSparse = 26;

struct CriteoOptions {
  std::string dense_name = "dense";
  // Names of the 26 id tensors; empty means "C1".."C26".
  std::vector<std::string> sparse_names;
  // Empty: the files have no label column (39 fields, like Criteo's test set).
  std::string label_name = "label";
  DataType label_dtype = DataType::kF32;  // kF32 or kI64
  // Rows of each embedding table; ids fall in [0, table_size), 0 being "missing".
  int64_t table_size = 1000;
};

// The id of categorical value `value` (the hex string read as a number) in slot `slot`
// (1..26). Stable across runs and platforms; models/criteo_synth.py computes the same.
int64_t CriteoHashId(int slot, uint64_t value, int64_t table_size);

// Opens a Criteo TSV file, or every file of a directory (sorted by name; hidden files skipped).
absl::StatusOr<std::shared_ptr<const Dataset>> OpenCriteoDataset(const std::string& path,
                                                                 const CriteoOptions& options = {});
// Opens Criteo TSV files as one dataset, their records one file after the other.
absl::StatusOr<std::shared_ptr<const Dataset>> OpenCriteoDataset(
    const std::vector<std::string>& files, const CriteoOptions& options = {});

}  // namespace fleet
