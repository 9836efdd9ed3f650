#include "runtime/ps/row_init.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "ir/ps_row_init.h"
#include "ir/status_macros.h"
#include "runtime/ps/sharding.h"

namespace fleet::ps {
namespace {

// A uniform float in [0, 1) from 24 random bits.
float Unit(uint64_t bits) { return static_cast<float>(bits >> 40) * (1.0f / 16777216.0f); }

}  // namespace

absl::StatusOr<RowInit> RowInit::Parse(std::string_view spec) {
  FLEET_ASSIGN_OR_RETURN(fleet::RowInit parsed, ParseRowInit(spec));
  RowInit init;
  init.scale = static_cast<float>(parsed.scale);
  switch (parsed.kind) {
    case fleet::RowInit::Kind::kZeros:
      init.kind = Kind::kZeros;
      break;
    case fleet::RowInit::Kind::kNormal:
      init.kind = Kind::kNormal;
      break;
    case fleet::RowInit::Kind::kUniform:
      init.kind = Kind::kUniform;
      break;
  }
  return init;
}

std::string RowInit::ToString() const {
  switch (kind) {
    case Kind::kZeros:
      return "zeros";
    case Kind::kNormal:
      return absl::StrCat("normal:", scale);
    case Kind::kUniform:
      return absl::StrCat("uniform:", scale);
  }
  return "zeros";
}

void RowInit::Fill(int64_t table_id, int64_t id, int64_t dim, float* out) const {
  if (kind == Kind::kZeros) {
    for (int64_t j = 0; j < dim; ++j) out[j] = 0.0f;
    return;
  }
  // A counter-based stream: element j's bits depend on (table, id, j) only.
  const uint64_t seed = MixId(id) ^ (MixId(table_id) * 0x9e3779b97f4a7c15ULL);
  auto bits = [seed](int64_t k) { return MixId(static_cast<int64_t>(seed + k)); };
  for (int64_t j = 0; j < dim; ++j) {
    if (kind == Kind::kUniform) {
      out[j] = scale * (2.0f * Unit(bits(j)) - 1.0f);
    } else {
      // Box-Muller on two independent draws per element.
      const float u1 = std::max(Unit(bits(2 * j)), 1e-7f);
      const float u2 = Unit(bits(2 * j + 1));
      out[j] = scale * std::sqrt(-2.0f * std::log(u1)) * std::cos(6.2831853f * u2);
    }
  }
}

}  // namespace fleet::ps
