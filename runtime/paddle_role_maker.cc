// PaddleCloudRoleMaker: Paddle's role variables, parameter-server and collective modes
// (runtime/role_maker.h). The variables and their meaning are Paddle's (fleet/base/role_maker.py,
// launch_ps); where Paddle fell back on a guess, a mismatch here is an error naming the variables.
#include <limits>

#include "absl/strings/str_cat.h"
#include "runtime/endpoint.h"
#include "runtime/role_env.h"
#include "runtime/role_maker.h"

namespace fleet {
namespace {

constexpr int kMaxCount = std::numeric_limits<int>::max();
constexpr char kServersHint[] =
    "PADDLE_PSERVERS_IP_PORT_LIST lists every server's ip:port, comma-separated";
constexpr char kTrainersNumHint[] = "PADDLE_TRAINERS_NUM is the number of trainers";
constexpr char kTrainerIdHint[] = "PADDLE_TRAINER_ID is this trainer's index, from 0";

// PADDLE_CURRENT_ENDPOINT, when set, must be the trainer's own entry of the list.
absl::Status CheckCurrentEndpoint(const RoleEnvReader& r, Role& role) {
  if (!r.Has("PADDLE_CURRENT_ENDPOINT")) return absl::OkStatus();
  auto current = r.Endpoint("PADDLE_CURRENT_ENDPOINT", "");
  if (!current.ok()) return current.status();
  if (!role.endpoint.empty() && *current != role.endpoint) {
    return r.Error(absl::StrCat("PADDLE_CURRENT_ENDPOINT=", *current, " is not trainer ",
                                role.index, "'s entry ", role.endpoint,
                                " of PADDLE_TRAINER_ENDPOINTS"));
  }
  role.endpoint = *current;
  return absl::OkStatus();
}

absl::StatusOr<Role> ParameterServerRole(const EnvLookup& env, const std::string& training_role) {
  Role role;
  role.maker = absl::StrCat("PaddleCloudRoleMaker, TRAINING_ROLE=", training_role);
  RoleEnvReader r(env, role.maker);
  if (training_role == "HETER_TRAINER") {
    return absl::UnimplementedError(
        absl::StrCat("TRAINING_ROLE=HETER_TRAINER: heterogeneous trainers are not supported (",
                     role.maker, "; hint: use TRAINER)"));
  }
  if (training_role != "TRAINER" && training_role != "PSERVER") {
    return r.Error(
        absl::StrCat("TRAINING_ROLE=\"", training_role, "\": expected TRAINER or PSERVER"));
  }
  auto servers = r.Endpoints("PADDLE_PSERVERS_IP_PORT_LIST", kServersHint);
  if (!servers.ok()) return servers.status();
  role.server_endpoints = *servers;
  role.num_servers = static_cast<int>(servers->size());
  auto trainers = r.Int("PADDLE_TRAINERS_NUM", kTrainersNumHint, 1, kMaxCount);
  if (!trainers.ok()) return trainers.status();
  role.num_workers = *trainers;
  if (r.Has("PADDLE_TRAINER_ENDPOINTS")) {
    auto workers = r.Endpoints("PADDLE_TRAINER_ENDPOINTS", "");
    if (!workers.ok()) return workers.status();
    if (static_cast<int>(workers->size()) != role.num_workers) {
      return r.Error(absl::StrCat("PADDLE_TRAINER_ENDPOINTS has ", workers->size(),
                                  " entries; expected ", role.num_workers,
                                  " since PADDLE_TRAINERS_NUM=", role.num_workers));
    }
    role.worker_endpoints = *workers;
  }

  if (training_role == "TRAINER") {
    role.kind = RoleKind::kWorker;
    auto id = r.Int("PADDLE_TRAINER_ID", kTrainerIdHint, 0, role.num_workers - 1,
                    absl::StrCat("PADDLE_TRAINERS_NUM=", role.num_workers));
    if (!id.ok()) return id.status();
    role.index = *id;
    if (!role.worker_endpoints.empty()) {
      role.endpoint = role.worker_endpoints[role.index];
      role.local_rank = LocalRankAmong(role.worker_endpoints, role.index);
    }
    absl::Status s = CheckCurrentEndpoint(r, role);
    if (!s.ok()) return s;
    return FinishRole(std::move(role));
  }

  role.kind = RoleKind::kServer;
  auto ip = r.Required("POD_IP",
                       "a server's POD_IP and PADDLE_PORT are its entry of "
                       "PADDLE_PSERVERS_IP_PORT_LIST");
  if (!ip.ok()) return ip.status();
  auto port = r.Int("PADDLE_PORT",
                    "a server's POD_IP and PADDLE_PORT are its entry of "
                    "PADDLE_PSERVERS_IP_PORT_LIST",
                    1, 65535);
  if (!port.ok()) return port.status();
  auto own = ParseHostPort(absl::StrCat(*ip, ":", *port));
  if (!own.ok()) {
    return r.Error(absl::StrCat("POD_IP=\"", *ip, "\" with PADDLE_PORT=", *port, ": ",
                                own.status().message()));
  }
  role.endpoint = own->ToString();
  role.index = -1;
  for (int i = 0; i < role.num_servers; ++i) {
    if (role.server_endpoints[i] == role.endpoint) role.index = i;
  }
  if (role.index < 0) {
    return r.Error(absl::StrCat(
        "this server's POD_IP:PADDLE_PORT ", role.endpoint,
        " is not in PADDLE_PSERVERS_IP_PORT_LIST=", JoinEndpoints(role.server_endpoints),
        "; hint: a server's POD_IP and PADDLE_PORT must match its entry of the list"));
  }
  role.local_rank = LocalRankAmong(role.server_endpoints, role.index);
  return FinishRole(std::move(role));
}

absl::StatusOr<Role> CollectiveRole(const EnvLookup& env) {
  Role role;
  role.maker = "PaddleCloudRoleMaker, collective";
  RoleEnvReader r(env, role.maker);
  if (std::optional<std::string> t = r.Get("PADDLE_TRAINING_ROLE"); t && *t != "TRAINER") {
    return r.Error(absl::StrCat("PADDLE_TRAINING_ROLE=\"", *t,
                                "\": a collective job has only trainers; expected TRAINER"));
  }
  auto workers = r.Endpoints("PADDLE_TRAINER_ENDPOINTS",
                             "PADDLE_TRAINER_ENDPOINTS lists every trainer's ip:port");
  if (!workers.ok()) return workers.status();
  role.worker_endpoints = *workers;
  role.num_workers = static_cast<int>(workers->size());
  const std::string list_note =
      absl::StrCat("PADDLE_TRAINER_ENDPOINTS has ", role.num_workers, " entries");
  if (r.Has("PADDLE_TRAINERS_NUM")) {
    auto n = r.Int("PADDLE_TRAINERS_NUM", "", 1, kMaxCount);
    if (!n.ok()) return n.status();
    if (*n != role.num_workers) {
      return r.Error(absl::StrCat("PADDLE_TRAINERS_NUM=", *n, " but ", list_note));
    }
  }
  // Paddle defaults the id to 0; with several trainers that makes every process rank 0.
  auto id = role.num_workers == 1
                ? r.IntOr("PADDLE_TRAINER_ID", 0, 0, 0, list_note)
                : r.Int("PADDLE_TRAINER_ID", kTrainerIdHint, 0, role.num_workers - 1, list_note);
  if (!id.ok()) return id.status();
  role.index = *id;
  role.endpoint = role.worker_endpoints[role.index];
  role.local_rank = LocalRankAmong(role.worker_endpoints, role.index);
  absl::Status s = CheckCurrentEndpoint(r, role);
  if (!s.ok()) return s;
  return FinishRole(std::move(role));
}

}  // namespace

absl::StatusOr<Role> PaddleCloudRoleMaker::Generate() const {
  if (std::optional<std::string> training_role = env_("TRAINING_ROLE")) {
    return ParameterServerRole(env_, *training_role);
  }
  return CollectiveRole(env_);
}

}  // namespace fleet
