// Variable reading and the common checks of the role makers (runtime/role_env.h).
#include "runtime/role_env.h"

#include <limits>
#include <map>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "runtime/endpoint.h"

namespace fleet {

absl::Status RoleEnvReader::Error(absl::string_view what) const {
  return absl::InvalidArgumentError(absl::StrCat(what, " (", context_, ")"));
}

absl::StatusOr<std::string> RoleEnvReader::Required(const std::string& name,
                                                    absl::string_view hint) const {
  std::optional<std::string> value = env_(name);
  if (!value) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, " is not set (", context_, "; hint: ", hint, ")"));
  }
  return *value;
}

absl::StatusOr<int> RoleEnvReader::Int(const std::string& name, absl::string_view hint, int min,
                                       int max, absl::string_view range_note) const {
  auto text = Required(name, hint);
  if (!text.ok()) return text.status();
  int value = 0;
  if (text->find_first_not_of("0123456789-+ ") != std::string::npos ||
      !absl::SimpleAtoi(*text, &value)) {
    return Error(absl::StrCat(name, "=\"", *text, "\": not an integer"));
  }
  if (value < min || value > max) {
    std::string note = range_note.empty() ? "" : absl::StrCat(" since ", range_note);
    std::string expected = max == std::numeric_limits<int>::max() ? absl::StrCat(">= ", min)
                                                                  : absl::StrCat(min, "..", max);
    return Error(absl::StrCat(name, "=", value, ": out of range; expected ", expected, note));
  }
  return value;
}

absl::StatusOr<int> RoleEnvReader::IntOr(const std::string& name, int fallback, int min, int max,
                                         absl::string_view range_note) const {
  if (!Has(name)) return fallback;
  return Int(name, "", min, max, range_note);
}

absl::StatusOr<std::vector<std::string>> RoleEnvReader::Endpoints(const std::string& name,
                                                                  absl::string_view hint) const {
  auto text = Required(name, hint);
  if (!text.ok()) return text.status();
  auto list = ParseEndpointList(*text);
  if (!list.ok()) {
    return Error(absl::StrCat(name, "=\"", *text, "\": ", list.status().message()));
  }
  std::vector<std::string> out;
  for (const HostPort& e : *list) out.push_back(e.ToString());
  return out;
}

absl::StatusOr<std::string> RoleEnvReader::Endpoint(const std::string& name,
                                                    absl::string_view hint) const {
  auto text = Required(name, hint);
  if (!text.ok()) return text.status();
  auto parsed = ParseHostPort(*text);
  if (!parsed.ok()) return Error(absl::StrCat(name, "=", parsed.status().message()));
  return parsed->ToString();
}

int LocalRankAmong(const std::vector<std::string>& endpoints, int index) {
  auto host = [](const std::string& endpoint) { return endpoint.substr(0, endpoint.rfind(':')); };
  int local = 0;
  for (int i = 0; i < index; ++i) local += host(endpoints[i]) == host(endpoints[index]);
  return local;
}

absl::StatusOr<Role> FinishRole(Role role) {
  auto error = [&](absl::string_view what) {
    return absl::InvalidArgumentError(absl::StrCat(what, " (", role.maker, ")"));
  };
  if (role.num_workers < 1) {
    return error(absl::StrCat("the job has ", role.num_workers, " workers; expected >= 1"));
  }
  if (role.num_servers != static_cast<int>(role.server_endpoints.size())) {
    return error(absl::StrCat("the job has ", role.num_servers, " servers but ",
                              role.server_endpoints.size(), " server endpoints"));
  }
  if (!role.worker_endpoints.empty() &&
      role.num_workers != static_cast<int>(role.worker_endpoints.size())) {
    return error(absl::StrCat("the job has ", role.num_workers, " workers but ",
                              role.worker_endpoints.size(), " worker endpoints"));
  }
  int count = role.is_worker() ? role.num_workers : role.num_servers;
  if (role.index < 0 || role.index >= count) {
    return error(absl::StrCat(RoleKindName(role.kind), " index ", role.index,
                              " is out of range; expected 0..", count - 1));
  }
  // One endpoint, one process: a worker listening where a server does would fail at bind time,
  // far from the cause.
  std::map<std::string, std::string> owner;
  auto claim = [&](const std::vector<std::string>& list, absl::string_view kind) -> absl::Status {
    for (size_t i = 0; i < list.size(); ++i) {
      std::string who = absl::StrCat(kind, ".", i);
      auto [it, inserted] = owner.emplace(list[i], who);
      if (!inserted) {
        return error(absl::StrCat("endpoint ", list[i], " is given to both ", it->second, " and ",
                                  who, "; every process needs its own"));
      }
    }
    return absl::OkStatus();
  };
  absl::Status s = claim(role.server_endpoints, "server");
  if (s.ok()) s = claim(role.worker_endpoints, "worker");
  if (!s.ok()) return s;
  if (role.master.empty() && !role.worker_endpoints.empty()) {
    role.master = role.worker_endpoints.front();
  }
  // Collective ranks cannot meet without one; parameter-server workers meet at the servers.
  if (role.master.empty() && role.num_servers == 0 && role.num_workers > 1) {
    return error(absl::StrCat("no rendezvous master for ", role.num_workers, " workers"));
  }
  return role;
}

}  // namespace fleet
