// "host:port" parsing for role makers and the launcher (runtime/endpoint.h).
#include "runtime/endpoint.h"

#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace fleet {

std::string HostPort::ToString() const { return absl::StrCat(host, ":", port); }

absl::StatusOr<HostPort> ParseHostPort(absl::string_view text) {
  absl::string_view s = absl::StripAsciiWhitespace(text);
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat("\"", text, "\": ", why));
  };
  // The last colon separates the port, so that "[::1]:80" keeps its address whole.
  size_t colon = s.rfind(':');
  if (colon == absl::string_view::npos) return bad("expected host:port");
  absl::string_view host = s.substr(0, colon);
  absl::string_view port_text = s.substr(colon + 1);
  if (host.empty()) return bad("the host is empty; expected host:port");
  bool bracketed = host.front() == '[' && host.back() == ']' && host.size() > 2;
  if (!bracketed && host.find_first_of(":[]") != absl::string_view::npos) {
    return bad("the host has ':' or brackets; write an IPv6 address as [addr]:port");
  }
  if (host.find_first_of(" \t,") != absl::string_view::npos) {
    return bad("the host has a space or a comma");
  }
  int port = 0;
  if (port_text.empty()) return bad("the port is empty; expected host:port");
  if (port_text.find_first_not_of("0123456789") != absl::string_view::npos ||
      !absl::SimpleAtoi(port_text, &port)) {
    return bad(absl::StrCat("port \"", port_text, "\" is not a number"));
  }
  if (port < 1 || port > 65535) {
    return bad(absl::StrCat("port ", port, " is out of range 1..65535"));
  }
  return HostPort{std::string(host), port};
}

absl::StatusOr<std::vector<HostPort>> ParseEndpointList(absl::string_view text) {
  if (absl::StripAsciiWhitespace(text).empty()) {
    return absl::InvalidArgumentError("the list is empty; expected host:port[,host:port...]");
  }
  std::vector<HostPort> out;
  std::set<std::string> seen;
  int position = 0;
  for (absl::string_view entry : absl::StrSplit(text, ',')) {
    ++position;
    auto parsed = ParseHostPort(entry);
    if (!parsed.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("entry ", position, " ", parsed.status().message()));
    }
    if (!seen.insert(parsed->ToString()).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("entry ", position, " \"", parsed->ToString(),
                       "\" is given twice; every process needs its own endpoint"));
    }
    out.push_back(*std::move(parsed));
  }
  return out;
}

std::string JoinEndpoints(const std::vector<std::string>& endpoints) {
  return absl::StrJoin(endpoints, ",");
}

}  // namespace fleet
