// Role makers: how a process of a distributed job learns what it is (worker or server), which one,
// and where its peers are.
//
// A RoleMaker reads an environment (injected, so tests need not touch the process's own) or a
// struct and produces a Role. The makers follow the launchers users already have:
//   PaddleCloudRoleMaker  Paddle's variables (TRAINING_ROLE, PADDLE_TRAINER_ID, ...), unchanged;
//   TorchRunRoleMaker     torchrun's (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT);
//   MpiRoleMaker          OpenMPI's or MPICH/Hydra's rank and size, plus a rendezvous master;
//   UserDefinedRoleMaker  a struct filled in C++.
// RoleFromEnvironment picks the maker whose variables are present. docs/launch.md lists every
// variable; fleet-launch sets Paddle's and torchrun's for each process it starts.
//
// Errors are INVALID_ARGUMENT naming the variable, its value and the maker:
//   PADDLE_TRAINER_ID="x": not an integer (PaddleCloudRoleMaker, TRAINING_ROLE=TRAINER)
//
// Thread safety: makers are immutable after construction; Generate may be called from any thread
// as long as the EnvLookup they hold may be (ProcessEnvironment's may, while nobody calls setenv).
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace fleet {

enum class RoleKind { kWorker, kServer };

// "worker" or "server".
const char* RoleKindName(RoleKind kind);

// What one process of a job is. Endpoints are "host:port" strings, already checked.
struct Role {
  // Worker (trainer: runs the model) or server (parameter server: holds parameter shards).
  RoleKind kind = RoleKind::kWorker;
  // Index among the processes of its kind: the worker's rank, or the server's shard number.
  int index = 0;
  // Number of workers in the job (>= 1).
  int num_workers = 1;
  // Number of parameter servers (0 in a collective job).
  int num_servers = 0;
  // Every server's endpoint, by server index; num_servers entries.
  std::vector<std::string> server_endpoints;
  // Every worker's endpoint, by worker index; num_workers entries, or empty when the maker does
  // not know them (torchrun, MPI, a multi-node fleet-launch).
  std::vector<std::string> worker_endpoints;
  // This process's own endpoint (where a server listens); empty when unknown.
  std::string endpoint;
  // Rendezvous master "host:port" of collective jobs: where rank 0 serves the store the ranks
  // meet at. Given explicitly (MASTER_ADDR/MASTER_PORT, FLEET_MASTER, the options' master), or
  // else the first worker endpoint (Paddle's convention); empty when neither is known, which only
  // a job of one worker may be.
  std::string master;
  // Index among the processes of its kind on this host (picks the local GPU): given by the
  // environment (LOCAL_RANK, OMPI_COMM_WORLD_LOCAL_RANK, MPI_LOCALRANKID), or counted among the
  // endpoints of its kind with the same host, or 0 when neither is known.
  int local_rank = 0;
  // Which maker produced the role and from what, for messages:
  // "PaddleCloudRoleMaker, TRAINING_ROLE=PSERVER", "TorchRunRoleMaker", ...
  std::string maker;

  bool is_worker() const { return kind == RoleKind::kWorker; }
  bool is_server() const { return kind == RoleKind::kServer; }
  // "worker.1", "server.0": the name fleet-launch prefixes the process's output with.
  std::string Name() const;
  // One line for logs: "worker.1 of 2 workers, 1 server; endpoint 127.0.0.1:6001; master
  // 127.0.0.1:6000; local rank 1 (PaddleCloudRoleMaker, TRAINING_ROLE=TRAINER)".
  std::string DebugString() const;
};

// An environment: the value of a variable, or nullopt when it is not set (set but empty is "").
using EnvLookup = std::function<std::optional<std::string>(const std::string& name)>;

// The process's environment (getenv).
EnvLookup ProcessEnvironment();
// A fixed environment, for tests and for checking what a launcher is about to set.
EnvLookup MapEnvironment(std::map<std::string, std::string> vars);

class RoleMaker {
 public:
  virtual ~RoleMaker() = default;
  // "PaddleCloudRoleMaker", ...
  virtual std::string_view name() const = 0;
  // The role, checked: index in range, endpoint lists consistent with the counts, every endpoint
  // well-formed and given once.
  virtual absl::StatusOr<Role> Generate() const = 0;
};

// Paddle's variables, with Paddle's meaning. The mode follows the variables:
// - parameter server, when TRAINING_ROLE is set: TRAINING_ROLE (TRAINER | PSERVER),
//   PADDLE_PSERVERS_IP_PORT_LIST, PADDLE_TRAINERS_NUM; a trainer reads PADDLE_TRAINER_ID and,
//   when set, PADDLE_TRAINER_ENDPOINTS (PADDLE_TRAINERS_NUM entries) and PADDLE_CURRENT_ENDPOINT;
//   a server finds its index by looking up POD_IP:PADDLE_PORT in the server list.
// - collective, otherwise: PADDLE_TRAINER_ENDPOINTS, PADDLE_TRAINER_ID (may be left out only in a
//   job of one), PADDLE_CURRENT_ENDPOINT and PADDLE_TRAINERS_NUM (checked against the list when
//   set), PADDLE_TRAINING_ROLE (must be TRAINER when set). The master is the first endpoint.
// Stricter than Paddle where Paddle guessed: a wrong count or a current endpoint that is not the
// trainer's own entry is an error, not a silent default.
class PaddleCloudRoleMaker final : public RoleMaker {
 public:
  explicit PaddleCloudRoleMaker(EnvLookup env) : env_(std::move(env)) {}
  std::string_view name() const override { return "PaddleCloudRoleMaker"; }
  absl::StatusOr<Role> Generate() const override;

 private:
  EnvLookup env_;
};

// torchrun's variables: RANK and WORLD_SIZE (required), LOCAL_RANK (0 when unset), MASTER_ADDR
// and MASTER_PORT (together; required when WORLD_SIZE > 1). Every process is a worker.
class TorchRunRoleMaker final : public RoleMaker {
 public:
  explicit TorchRunRoleMaker(EnvLookup env) : env_(std::move(env)) {}
  std::string_view name() const override { return "TorchRunRoleMaker"; }
  absl::StatusOr<Role> Generate() const override;

 private:
  EnvLookup env_;
};

// A process started by mpirun: rank and size from OpenMPI (OMPI_COMM_WORLD_RANK,
// OMPI_COMM_WORLD_SIZE, OMPI_COMM_WORLD_LOCAL_RANK) or, when OpenMPI's are absent, MPICH/Hydra
// (PMI_RANK, PMI_SIZE, MPI_LOCALRANKID). MPI gives no rendezvous address, so the master comes
// from MASTER_ADDR + MASTER_PORT or FLEET_MASTER=host:port (both forms agreeing when both are
// set); it is required when the size is > 1. Every process is a worker.
class MpiRoleMaker final : public RoleMaker {
 public:
  explicit MpiRoleMaker(EnvLookup env) : env_(std::move(env)) {}
  std::string_view name() const override { return "MpiRoleMaker"; }
  absl::StatusOr<Role> Generate() const override;

 private:
  EnvLookup env_;
};

// What UserDefinedRoleMaker builds a role from (Paddle's UserDefinedRoleMaker arguments).
struct UserDefinedRoleOptions {
  RoleKind kind = RoleKind::kWorker;
  // Index among the processes of `kind`.
  int index = 0;
  // Number of workers; 0 means the size of worker_endpoints (which must then be non-empty).
  int num_workers = 0;
  // Every server's endpoint (a parameter-server job); empty for a collective job.
  std::vector<std::string> server_endpoints;
  // Every worker's endpoint; may be empty when num_workers is given.
  std::vector<std::string> worker_endpoints;
  // Rendezvous master "host:port"; empty means the first worker endpoint, when known.
  std::string master;
  // Local rank; -1 counts it among the endpoints of its kind on the same host.
  int local_rank = -1;
};

class UserDefinedRoleMaker final : public RoleMaker {
 public:
  explicit UserDefinedRoleMaker(UserDefinedRoleOptions options) : options_(std::move(options)) {}
  std::string_view name() const override { return "UserDefinedRoleMaker"; }
  absl::StatusOr<Role> Generate() const override;

 private:
  UserDefinedRoleOptions options_;
};

// Every variable the makers above read, so that a launcher can clear what it inherited before
// it sets a child's role (a launcher started under mpirun must not pass OMPI_* on).
const std::vector<std::string>& RoleVariableNames();

// The role from the first maker whose variables are present in `env`, checked in this order:
//   1. PaddleCloudRoleMaker  when TRAINING_ROLE or PADDLE_TRAINER_ENDPOINTS is set (first,
//      because only Paddle's variables carry servers and endpoints, and fleet-launch sets both
//      Paddle's and torchrun's);
//   2. TorchRunRoleMaker     when RANK or WORLD_SIZE is set;
//   3. MpiRoleMaker          when any of OMPI_COMM_WORLD_RANK, OMPI_COMM_WORLD_SIZE, PMI_RANK,
//      PMI_SIZE is set (last: torchrun or Paddle started inside an MPI allocation knows better);
//   4. none of them: a single process, worker 0 of 1, maker "single process".
// The chosen maker's errors are returned as they are; no other maker is tried after one fails.
absl::StatusOr<Role> RoleFromEnvironment(const EnvLookup& env);

}  // namespace fleet
