// Endpoints: the "host:port" strings through which role makers and the launcher name processes.
//
// The host is kept as written (a name, an IPv4 address, or an IPv6 address in brackets); only
// its shape is checked, it is never resolved. Thread safety: plain functions and values.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace fleet {

struct HostPort {
  std::string host;  // as written; "[::1]" keeps its brackets
  int port = 0;      // 1..65535

  // "host:port".
  std::string ToString() const;
};

// Parses "host:port" (surrounding spaces ignored). INVALID_ARGUMENT names the text and the
// problem: `"h1:99999": port 99999 is out of range 1..65535`.
absl::StatusOr<HostPort> ParseHostPort(absl::string_view text);

// Parses a comma-separated list of "host:port" (Paddle's PADDLE_PSERVERS_IP_PORT_LIST form).
// An empty list, an empty entry, a malformed entry or an endpoint given twice is
// INVALID_ARGUMENT naming the entry: `entry 2 "h1": expected host:port`.
absl::StatusOr<std::vector<HostPort>> ParseEndpointList(absl::string_view text);

// The entries of `endpoints` joined by commas: the inverse of ParseEndpointList.
std::string JoinEndpoints(const std::vector<std::string>& endpoints);

}  // namespace fleet
