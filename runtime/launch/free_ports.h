// Free TCP ports for the processes the launcher starts.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace fleet::launch {

// `count` distinct ports that were free on `host` (an IPv4 address): binds that many sockets to
// host:0 at once, reads the ports back and closes them. Another process may still take a port
// before the child binds it; the window is the child's start-up. Thread safe.
absl::StatusOr<std::vector<int>> PickFreePorts(const std::string& host, int count);

}  // namespace fleet::launch
