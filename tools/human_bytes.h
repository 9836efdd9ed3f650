// Byte counts for people: "1.5 MiB".
#pragma once

#include <string>

namespace fleet {

// `bytes` in B, KiB, MiB or GiB, one decimal: "512.0 B", "1.5 MiB".
std::string HumanBytes(double bytes);

}  // namespace fleet
