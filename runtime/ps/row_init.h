// How a table row that the model does not carry starts (fleet.ps_serve's row_init attribute,
// parsed by ir/ps_row_init.h: zeros, normal:STD, uniform:A). Random rows are a function of (table,
// id) alone, so a row gets the same start on any server, in any run, whichever worker touched it
// first.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace fleet::ps {

struct RowInit {
  enum class Kind { kZeros, kNormal, kUniform };
  Kind kind = Kind::kZeros;
  float scale = 0;  // STD or A

  // Parses a spec (ParseRowInit); INVALID_ARGUMENT quoting it otherwise.
  static absl::StatusOr<RowInit> Parse(std::string_view spec);
  std::string ToString() const;

  // Writes the `dim` starting values of row `id` of table `table_id`.
  void Fill(int64_t table_id, int64_t id, int64_t dim, float* out) const;
};

}  // namespace fleet::ps
