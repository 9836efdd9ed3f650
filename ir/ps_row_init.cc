// Row initialisers of parameter-server tables (ps_row_init.h).
#include "ir/ps_row_init.h"

#include <cmath>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace fleet {

absl::StatusOr<RowInit> ParseRowInit(std::string_view spec) {
  RowInit init;
  if (spec.empty() || spec == "zeros") return init;
  const size_t colon = spec.find(':');
  const std::string_view kind = spec.substr(0, colon);
  double scale = 0;
  const bool known = kind == "normal" || kind == "uniform";
  if (!known || colon == std::string_view::npos ||
      !absl::SimpleAtod(std::string(spec.substr(colon + 1)), &scale) || !std::isfinite(scale) ||
      scale <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "row initializer '", std::string(spec),
        "' is invalid; expected zeros, normal:STD or uniform:A with STD, A finite numbers > 0 "
        "(e.g. normal:0.01)"));
  }
  init.kind = kind == "normal" ? RowInit::Kind::kNormal : RowInit::Kind::kUniform;
  init.scale = scale;
  return init;
}

}  // namespace fleet
