// How the collective runtime spells durations in its messages: "10s", "2.5s", "250ms".
#pragma once

#include <chrono>
#include <string>

#include "absl/strings/str_cat.h"

namespace fleet {

inline std::string DurationText(std::chrono::milliseconds d) {
  if (d.count() < 1000) return absl::StrCat(d.count(), "ms");
  if (d.count() % 1000 == 0) return absl::StrCat(d.count() / 1000, "s");
  return absl::StrCat(static_cast<double>(d.count()) / 1000.0, "s");
}

// Milliseconds left until `deadline`, rounded up so that a poll() with it does not wake just
// before the deadline; 0 once it has passed.
inline int MillisLeft(std::chrono::steady_clock::time_point deadline) {
  auto left =
      std::chrono::ceil<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
  if (left.count() <= 0) return 0;
  return left.count() > 1000000000 ? 1000000000 : static_cast<int>(left.count());
}

}  // namespace fleet
