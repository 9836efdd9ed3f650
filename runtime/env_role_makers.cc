// TorchRunRoleMaker and MpiRoleMaker: every process a worker, ranked by its launcher, meeting the
// others at a rendezvous master (runtime/role_maker.h).
#include <limits>

#include "absl/strings/str_cat.h"
#include "runtime/endpoint.h"
#include "runtime/role_env.h"
#include "runtime/role_maker.h"

namespace fleet {
namespace {

constexpr int kMaxCount = std::numeric_limits<int>::max();

// MASTER_ADDR + MASTER_PORT as "host:port"; "" when neither is set; an error when only one is.
absl::StatusOr<std::string> MasterFromAddrPort(const RoleEnvReader& r) {
  bool addr = r.Has("MASTER_ADDR"), port = r.Has("MASTER_PORT");
  if (!addr && !port) return std::string();
  if (addr != port) {
    return r.Error(absl::StrCat(addr ? "MASTER_ADDR" : "MASTER_PORT", " is set but ",
                                addr ? "MASTER_PORT" : "MASTER_ADDR",
                                " is not; the master needs both"));
  }
  auto port_value = r.Int("MASTER_PORT", "", 1, 65535);
  if (!port_value.ok()) return port_value.status();
  std::string host = *r.Get("MASTER_ADDR");
  auto parsed = ParseHostPort(absl::StrCat(host, ":", *port_value));
  if (!parsed.ok()) {
    return r.Error(absl::StrCat("MASTER_ADDR=\"", host, "\": ", parsed.status().message()));
  }
  return parsed->ToString();
}

absl::Status RequireMaster(const RoleEnvReader& r, const Role& role, absl::string_view how) {
  if (!role.master.empty() || role.num_workers == 1) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat("no rendezvous master for ", role.num_workers,
                                                 " workers (", r.context(), "; hint: set ", how,
                                                 ")"));
}

}  // namespace

absl::StatusOr<Role> TorchRunRoleMaker::Generate() const {
  Role role;
  role.maker = "TorchRunRoleMaker";
  RoleEnvReader r(env_, role.maker);
  auto size = r.Int("WORLD_SIZE", "torchrun sets RANK and WORLD_SIZE together", 1, kMaxCount);
  if (!size.ok()) return size.status();
  role.num_workers = *size;
  auto rank = r.Int("RANK", "torchrun sets RANK and WORLD_SIZE together", 0, *size - 1,
                    absl::StrCat("WORLD_SIZE=", *size));
  if (!rank.ok()) return rank.status();
  role.index = *rank;
  auto local = r.IntOr("LOCAL_RANK", 0, 0, *size - 1, absl::StrCat("WORLD_SIZE=", *size));
  if (!local.ok()) return local.status();
  role.local_rank = *local;
  auto master = MasterFromAddrPort(r);
  if (!master.ok()) return master.status();
  role.master = *master;
  absl::Status s = RequireMaster(r, role, "MASTER_ADDR and MASTER_PORT");
  if (!s.ok()) return s;
  return FinishRole(std::move(role));
}

absl::StatusOr<Role> MpiRoleMaker::Generate() const {
  // OpenMPI's names when it set any, else MPICH/Hydra's; never a mix.
  bool openmpi = env_("OMPI_COMM_WORLD_RANK") || env_("OMPI_COMM_WORLD_SIZE");
  const char* rank_var = openmpi ? "OMPI_COMM_WORLD_RANK" : "PMI_RANK";
  const char* size_var = openmpi ? "OMPI_COMM_WORLD_SIZE" : "PMI_SIZE";
  const char* local_var = openmpi ? "OMPI_COMM_WORLD_LOCAL_RANK" : "MPI_LOCALRANKID";
  Role role;
  role.maker = openmpi ? "MpiRoleMaker, OpenMPI" : "MpiRoleMaker, MPICH";
  RoleEnvReader r(env_, role.maker);
  const std::string hint = absl::StrCat("mpirun sets ", rank_var, " and ", size_var);
  auto size = r.Int(size_var, hint, 1, kMaxCount);
  if (!size.ok()) return size.status();
  role.num_workers = *size;
  const std::string size_note = absl::StrCat(size_var, "=", *size);
  auto rank = r.Int(rank_var, hint, 0, *size - 1, size_note);
  if (!rank.ok()) return rank.status();
  role.index = *rank;
  auto local = r.IntOr(local_var, 0, 0, *size - 1, size_note);
  if (!local.ok()) return local.status();
  role.local_rank = *local;

  auto from_addr_port = MasterFromAddrPort(r);
  if (!from_addr_port.ok()) return from_addr_port.status();
  role.master = *from_addr_port;
  if (r.Has("FLEET_MASTER")) {
    auto fleet_master = r.Endpoint("FLEET_MASTER", "");
    if (!fleet_master.ok()) return fleet_master.status();
    if (!role.master.empty() && role.master != *fleet_master) {
      return r.Error(absl::StrCat("FLEET_MASTER=", *fleet_master, " and MASTER_ADDR:MASTER_PORT=",
                                  role.master, " disagree; set one of them"));
    }
    role.master = *fleet_master;
  }
  absl::Status s =
      RequireMaster(r, role, "FLEET_MASTER=host:port, e.g. mpirun -x FLEET_MASTER=host:port");
  if (!s.ok()) return s;
  return FinishRole(std::move(role));
}

}  // namespace fleet
