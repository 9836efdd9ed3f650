// Paddle's MultiSlot text format (MultiSlotDataFeed): one record per line, whitespace-separated;
// for each slot, in the configured order, a count n and then n values:
//   1 0   3 0.1 0.5 2.0   2 17 4081        <- label: 1 value, dense: 3 values, ids: 2 values
// The slots are named and typed by a small config, one entry per slot, comma-separated:
//   "label:int64,dense:float:3,ids:uint64:var"
//   name:type        one value per record            -> tensor `name` [B]
//   name:type:N      exactly N values per record     -> tensor `name` [B,N]
//   name:type:var    any number (0 allowed)          -> `name` [total] (all values of the batch,
//                                                        record after record) and
//                                                        `name.lengths` i64[B] (Paddle's LoD)
// Types: float (f32), int64 and uint64 (both i64; uint64 rejects negative values).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "executor/data/reader.h"
#include "ir/dtype.h"

namespace fleet {

struct MultiSlotSpec {
  std::string name;
  DataType dtype = DataType::kI64;  // kF32 or kI64
  bool is_unsigned = false;         // "uint64": negative values are an error
  int64_t dim = 1;                  // values per record; -1 = variable
  bool scalar = true;               // "name:type" (shape [B]) rather than "name:type:N" ([B,N])
};

// Parses the slot config above. INVALID_ARGUMENT names the bad entry.
absl::StatusOr<std::vector<MultiSlotSpec>> ParseSlotSpecs(const std::string& config);

// Opens a MultiSlot file, or every file of a directory (sorted by name; hidden files skipped).
absl::StatusOr<std::shared_ptr<const Dataset>> OpenMultiSlotDataset(
    const std::string& path, const std::vector<MultiSlotSpec>& slots);
// Opens MultiSlot files as one dataset, their records one file after the other.
absl::StatusOr<std::shared_ptr<const Dataset>> OpenMultiSlotDataset(
    const std::vector<std::string>& files, const std::vector<MultiSlotSpec>& slots);

}  // namespace fleet
