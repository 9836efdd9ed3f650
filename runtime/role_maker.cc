// Roles, environments, the user-defined maker, and the choice of maker (runtime/role_maker.h).
#include "runtime/role_maker.h"

#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "runtime/endpoint.h"
#include "runtime/role_env.h"

namespace fleet {

const char* RoleKindName(RoleKind kind) { return kind == RoleKind::kWorker ? "worker" : "server"; }

std::string Role::Name() const { return absl::StrCat(RoleKindName(kind), ".", index); }

std::string Role::DebugString() const {
  auto plural = [](int n, absl::string_view noun) {
    return absl::StrCat(n, " ", noun, n == 1 ? "" : "s");
  };
  return absl::StrCat(
      Name(), " of ", plural(num_workers, "worker"), ", ", plural(num_servers, "server"),
      "; endpoint ", endpoint.empty() ? "unknown" : endpoint, "; master ",
      master.empty() ? "none" : master, "; local rank ", local_rank, " (", maker, ")");
}

EnvLookup ProcessEnvironment() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* value = std::getenv(name.c_str());
    if (value == nullptr) return std::nullopt;
    return std::string(value);
  };
}

EnvLookup MapEnvironment(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

absl::StatusOr<Role> UserDefinedRoleMaker::Generate() const {
  const UserDefinedRoleOptions& o = options_;
  Role role;
  role.kind = o.kind;
  role.index = o.index;
  role.maker = "UserDefinedRoleMaker";
  auto error = [](absl::string_view what) {
    return absl::InvalidArgumentError(absl::StrCat(what, " (UserDefinedRoleMaker)"));
  };
  auto normalise = [&](const std::vector<std::string>& list, absl::string_view field,
                       std::vector<std::string>& out) -> absl::Status {
    for (size_t i = 0; i < list.size(); ++i) {
      auto parsed = ParseHostPort(list[i]);
      if (!parsed.ok()) {
        return error(absl::StrCat(field, "[", i, "] ", parsed.status().message()));
      }
      out.push_back(parsed->ToString());
    }
    return absl::OkStatus();
  };
  absl::Status s = normalise(o.server_endpoints, "server_endpoints", role.server_endpoints);
  if (s.ok()) s = normalise(o.worker_endpoints, "worker_endpoints", role.worker_endpoints);
  if (!s.ok()) return s;
  role.num_servers = static_cast<int>(role.server_endpoints.size());
  int listed = static_cast<int>(role.worker_endpoints.size());
  if (o.num_workers < 0) {
    return error(absl::StrCat("num_workers=", o.num_workers,
                              "; expected >= 1, or 0 to count "
                              "worker_endpoints"));
  }
  if (o.num_workers == 0 && listed == 0) {
    return error("num_workers is 0 and worker_endpoints is empty; give either");
  }
  if (o.num_workers != 0 && listed != 0 && o.num_workers != listed) {
    return error(absl::StrCat("num_workers=", o.num_workers, " but worker_endpoints has ", listed,
                              " entries"));
  }
  role.num_workers = o.num_workers != 0 ? o.num_workers : listed;
  if (o.kind == RoleKind::kServer && role.num_servers == 0) {
    return error("a server needs server_endpoints; it is empty");
  }
  const std::vector<std::string>& own =
      o.kind == RoleKind::kServer ? role.server_endpoints : role.worker_endpoints;
  int count = o.kind == RoleKind::kServer ? role.num_servers : role.num_workers;
  if (o.index < 0 || o.index >= count) {
    return error(absl::StrCat("index=", o.index, " is out of range for a ", RoleKindName(o.kind),
                              "; expected 0..", count - 1));
  }
  if (!own.empty()) role.endpoint = own[o.index];
  if (!o.master.empty()) {
    auto master = ParseHostPort(o.master);
    if (!master.ok()) return error(absl::StrCat("master ", master.status().message()));
    role.master = master->ToString();
  }
  role.local_rank = o.local_rank >= 0 ? o.local_rank
                    : own.empty()     ? 0
                                      : LocalRankAmong(own, o.index);
  return FinishRole(std::move(role));
}

const std::vector<std::string>& RoleVariableNames() {
  static const auto* names = new std::vector<std::string>{
      // Paddle
      "TRAINING_ROLE", "PADDLE_TRAINING_ROLE", "PADDLE_PSERVERS_IP_PORT_LIST",
      "PADDLE_TRAINERS_NUM", "PADDLE_TRAINER_ID", "PADDLE_TRAINER_ENDPOINTS",
      "PADDLE_CURRENT_ENDPOINT", "POD_IP", "PADDLE_PORT",
      // torchrun (LOCAL_WORLD_SIZE is not read, but is set with the others)
      "RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT",
      // MPI
      "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK", "PMI_RANK",
      "PMI_SIZE", "MPI_LOCALRANKID", "FLEET_MASTER",
      // fleet-launch's label for logs
      "FLEET_ROLE"};
  return *names;
}

absl::StatusOr<Role> RoleFromEnvironment(const EnvLookup& env) {
  auto has = [&](const char* name) { return env(name).has_value(); };
  if (has("TRAINING_ROLE") || has("PADDLE_TRAINER_ENDPOINTS")) {
    return PaddleCloudRoleMaker(env).Generate();
  }
  if (has("RANK") || has("WORLD_SIZE")) return TorchRunRoleMaker(env).Generate();
  if (has("OMPI_COMM_WORLD_RANK") || has("OMPI_COMM_WORLD_SIZE") || has("PMI_RANK") ||
      has("PMI_SIZE")) {
    return MpiRoleMaker(env).Generate();
  }
  Role single;
  single.maker = "single process: no role variables set";
  return single;
}

}  // namespace fleet
