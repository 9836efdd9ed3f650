// How rows of a parameter-server table start when the model does not carry them (ids at or
// beyond the table's height): the `row_init` attribute of fleet.ps_serve (ir/fleet_ps_ops.cc)
// and the strategy's ps.row_init (passes/strategy.proto). The pass checks the text when it
// writes the attribute; the server parses it again when it creates a row.
//
//   "zeros"       every element 0 (also what "" means)
//   "normal:STD"  N(0, STD^2), STD a finite number > 0
//   "uniform:A"   U(-A, A), A a finite number > 0
//
// Thread-safe (pure functions).
#pragma once

#include <string_view>

#include "absl/status/statusor.h"

namespace fleet {

struct RowInit {
  enum class Kind { kZeros, kNormal, kUniform };
  Kind kind = Kind::kZeros;
  double scale = 0;  // kNormal: the standard deviation; kUniform: the bound A
};

// Parses a spec; INVALID_ARGUMENT quoting it and listing the accepted forms otherwise.
absl::StatusOr<RowInit> ParseRowInit(std::string_view spec);

}  // namespace fleet
