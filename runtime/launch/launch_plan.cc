// fleet-launch's flags to the processes of this node and their role environments
// (runtime/launch/launch_plan.h).
#include "runtime/launch/launch_plan.h"

#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "runtime/endpoint.h"
#include "runtime/role_env.h"

namespace fleet::launch {
namespace {

absl::Status FlagError(absl::string_view what) { return absl::InvalidArgumentError(what); }

std::string Plural(int n, absl::string_view noun) {
  return absl::StrCat(n, " ", noun, n == 1 ? "" : "s");
}

// The job as a whole: every endpoint, and which entries this node starts.
struct Job {
  std::vector<std::string> servers;  // empty: collective
  std::vector<std::string> workers;  // empty: unknown (several nodes)
  int num_workers = 0;
  std::string master;
};

// torchrun's variables of worker `rank`.
void SetTorchRunVars(const Job& job, int rank, int local_rank, int local_world,
                     std::map<std::string, std::string>& env) {
  env["RANK"] = std::to_string(rank);
  env["WORLD_SIZE"] = std::to_string(job.num_workers);
  env["LOCAL_RANK"] = std::to_string(local_rank);
  env["LOCAL_WORLD_SIZE"] = std::to_string(local_world);
  if (!job.master.empty()) {
    size_t colon = job.master.rfind(':');
    env["MASTER_ADDR"] = job.master.substr(0, colon);
    env["MASTER_PORT"] = job.master.substr(colon + 1);
  }
}

PlannedChild MakeChild(const Job& job, RoleKind kind, int index, const std::string& endpoint,
                       int local_rank, int local_world) {
  PlannedChild c;
  c.kind = kind;
  c.index = index;
  c.name = absl::StrCat(RoleKindName(kind), ".", index);
  c.endpoint = endpoint;
  auto& env = c.env;
  env["FLEET_ROLE"] = c.name;
  // The address this process's own connections listen on (collectives bind to it).
  env["FLEET_HOST"] = endpoint.substr(0, endpoint.rfind(':'));
  env["PADDLE_TRAINERS_NUM"] = std::to_string(job.num_workers);
  env["PADDLE_CURRENT_ENDPOINT"] = endpoint;
  if (!job.workers.empty()) env["PADDLE_TRAINER_ENDPOINTS"] = JoinEndpoints(job.workers);
  if (!job.servers.empty()) {
    env["TRAINING_ROLE"] = kind == RoleKind::kServer ? "PSERVER" : "TRAINER";
    env["PADDLE_PSERVERS_IP_PORT_LIST"] = JoinEndpoints(job.servers);
    size_t colon = endpoint.rfind(':');
    env["POD_IP"] = endpoint.substr(0, colon);
    env["PADDLE_PORT"] = endpoint.substr(colon + 1);
  }
  if (kind == RoleKind::kWorker) {
    env["PADDLE_TRAINER_ID"] = std::to_string(index);
    SetTorchRunVars(job, index, local_rank, local_world, env);
  }
  return c;
}

absl::StatusOr<std::vector<std::string>> PickEndpoints(const std::string& host, int count,
                                                       const PortPicker& pick_ports) {
  auto ports = pick_ports(host, count);
  if (!ports.ok()) return ports.status();
  if (static_cast<int>(ports->size()) != count) {
    return absl::InternalError(
        absl::StrCat("asked for ", count, " free ports on ", host, ", got ", ports->size()));
  }
  std::vector<std::string> out;
  for (int port : *ports) out.push_back(absl::StrCat(host, ":", port));
  return out;
}

absl::StatusOr<LaunchPlan> PlanCollective(const LaunchOptions& o, const PortPicker& pick_ports) {
  if (o.nnodes < 1) return FlagError(absl::StrCat("--nnodes ", o.nnodes, ": expected >= 1"));
  if (o.node_rank < 0 || o.node_rank >= o.nnodes) {
    return FlagError(absl::StrCat("--node-rank ", o.node_rank, ": out of range for --nnodes ",
                                  o.nnodes, "; expected 0..", o.nnodes - 1));
  }
  Job job;
  job.num_workers = o.nnodes * o.nproc;
  if (o.nnodes > 1) {
    if (o.master.empty()) {
      return FlagError(absl::StrCat("--nnodes ", o.nnodes,
                                    " needs --master host:port, the address where rank 0 (node "
                                    "0's first process) serves the rendezvous, the same on "
                                    "every node"));
    }
    auto master = ParseHostPort(o.master);
    if (!master.ok()) return FlagError(absl::StrCat("--master ", master.status().message()));
    job.master = master->ToString();
  } else if (!o.master.empty()) {
    return FlagError(
        "--master: only with --nnodes > 1; on one node the ranks meet at rank 0's endpoint, "
        "which fleet-launch picks");
  }
  auto endpoints = PickEndpoints(o.host, o.nproc, pick_ports);
  if (!endpoints.ok()) return endpoints.status();
  // One node knows the whole list; several do not know each other's ports, and their ranks
  // meet through --master instead (Paddle's list is then left unset).
  if (o.nnodes == 1) {
    job.workers = *endpoints;
    job.master = job.workers.front();
  }
  LaunchPlan plan;
  for (int i = 0; i < o.nproc; ++i) {
    plan.children.push_back(
        MakeChild(job, RoleKind::kWorker, o.node_rank * o.nproc + i, (*endpoints)[i], i, o.nproc));
    if (!o.gpus.empty()) {
      plan.children.back().env["CUDA_VISIBLE_DEVICES"] = o.gpus[static_cast<size_t>(i)];
      plan.children.back().env["FLEET_DEVICE"] = "cuda:0";
    }
  }
  plan.summary =
      o.nnodes == 1 ? absl::StrCat("collective: ", Plural(o.nproc, "worker"), " on ", o.host,
                                   ", master ", job.master)
                    : absl::StrCat("collective, node ", o.node_rank, " of ", o.nnodes, ": workers ",
                                   o.node_rank * o.nproc, "..", (o.node_rank + 1) * o.nproc - 1,
                                   " of ", job.num_workers, ", master ", job.master);
  return plan;
}

absl::StatusOr<LaunchPlan> PlanParameterServer(const LaunchOptions& o,
                                               const PortPicker& pick_ports) {
  if (o.workers < 1) {
    return FlagError(absl::StrCat("--servers ", o.servers, " needs --workers N (N >= 1)"));
  }
  if (o.servers < 1) {
    return FlagError(absl::StrCat("--workers ", o.workers,
                                  " needs --servers N (N >= 1); a collective job is --nproc N"));
  }
  auto endpoints = PickEndpoints(o.host, o.servers + o.workers, pick_ports);
  if (!endpoints.ok()) return endpoints.status();
  Job job;
  job.servers.assign(endpoints->begin(), endpoints->begin() + o.servers);
  job.workers.assign(endpoints->begin() + o.servers, endpoints->end());
  job.num_workers = o.workers;
  job.master = job.workers.front();
  LaunchPlan plan;
  for (int i = 0; i < o.servers; ++i) {
    plan.children.push_back(MakeChild(job, RoleKind::kServer, i, job.servers[i], i, o.servers));
  }
  for (int i = 0; i < o.workers; ++i) {
    plan.children.push_back(MakeChild(job, RoleKind::kWorker, i, job.workers[i], i, o.workers));
  }
  plan.summary = absl::StrCat("parameter server: ", Plural(o.workers, "worker"), ", ",
                              Plural(o.servers, "server"), " on ", o.host);
  return plan;
}

absl::StatusOr<std::vector<std::string>> ParseFlagList(const std::vector<std::string>& list,
                                                       absl::string_view flag) {
  auto parsed = ParseEndpointList(absl::StrJoin(list, ","));
  if (!parsed.ok()) return FlagError(absl::StrCat(flag, ": ", parsed.status().message()));
  std::vector<std::string> out;
  for (const HostPort& e : *parsed) out.push_back(e.ToString());
  return out;
}

absl::StatusOr<LaunchPlan> PlanExplicit(const LaunchOptions& o) {
  if (o.worker_endpoints.empty()) {
    return FlagError("--servers-endpoints needs --workers-endpoints (every worker's host:port)");
  }
  Job job;
  auto workers = ParseFlagList(o.worker_endpoints, "--workers-endpoints");
  if (!workers.ok()) return workers.status();
  job.workers = *workers;
  if (!o.server_endpoints.empty()) {
    auto servers = ParseFlagList(o.server_endpoints, "--servers-endpoints");
    if (!servers.ok()) return servers.status();
    job.servers = *servers;
  }
  std::set<std::string> servers(job.servers.begin(), job.servers.end());
  for (const std::string& w : job.workers) {
    if (servers.count(w)) {
      return FlagError(absl::StrCat(w,
                                    " is in both --servers-endpoints and --workers-endpoints; "
                                    "every process needs its own endpoint"));
    }
  }
  job.num_workers = static_cast<int>(job.workers.size());
  job.master = job.workers.front();
  auto on_host = [&](const std::string& e) { return e.substr(0, e.rfind(':')) == o.host; };
  int local_workers = 0;
  for (const std::string& w : job.workers) local_workers += on_host(w);
  LaunchPlan plan;
  for (size_t i = 0; i < job.servers.size(); ++i) {
    if (!on_host(job.servers[i])) continue;
    int local = LocalRankAmong(job.servers, static_cast<int>(i));
    plan.children.push_back(MakeChild(job, RoleKind::kServer, static_cast<int>(i), job.servers[i],
                                      local, static_cast<int>(job.servers.size())));
  }
  for (size_t i = 0; i < job.workers.size(); ++i) {
    if (!on_host(job.workers[i])) continue;
    int local = LocalRankAmong(job.workers, static_cast<int>(i));
    plan.children.push_back(MakeChild(job, RoleKind::kWorker, static_cast<int>(i), job.workers[i],
                                      local, local_workers));
  }
  if (plan.children.empty()) {
    return FlagError(absl::StrCat("--host ", o.host,
                                  ": no endpoint of --servers-endpoints or --workers-endpoints is "
                                  "on this host (hint: run fleet-launch on each host, with --host "
                                  "set to the address its endpoints use)"));
  }
  std::vector<std::string> names;
  for (const PlannedChild& c : plan.children) names.push_back(c.name);
  plan.summary = absl::StrCat(job.servers.empty() ? "collective" : "parameter server", ": ",
                              absl::StrJoin(names, ", "), " of ", Plural(job.num_workers, "worker"),
                              ", ", Plural(static_cast<int>(job.servers.size()), "server"),
                              " (this host: ", o.host, ")");
  return plan;
}

// --gpus: the GPU ids, checked, and the process count they imply.
absl::Status ApplyGpus(LaunchOptions& o) {
  std::set<std::string> seen;
  for (const std::string& id : o.gpus) {
    if (id.empty() || id.find_first_of(", \t") != std::string::npos) {
      return FlagError(absl::StrCat("--gpus: '", id,
                                    "' is not a GPU id; expected a list like 0,1 (the ids "
                                    "nvidia-smi shows)"));
    }
    if (!seen.insert(id).second) {
      return FlagError(absl::StrCat("--gpus: GPU ", id, " is listed twice; one process per GPU"));
    }
  }
  const int count = static_cast<int>(o.gpus.size());
  if (o.nproc > 0 && o.nproc != count) {
    return FlagError(absl::StrCat("--gpus lists ", count, " GPUs but --nproc is ", o.nproc,
                                  " (one process per GPU: leave --nproc out)"));
  }
  o.nproc = count;
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<LaunchPlan> PlanLaunch(const LaunchOptions& options, const PortPicker& pick_ports) {
  LaunchOptions o = options;
  if (!o.gpus.empty()) {
    if (o.workers > 0 || o.servers > 0 || !o.worker_endpoints.empty()) {
      return FlagError(
          "--gpus starts collective processes; it does not go with --workers, "
          "--servers or the endpoint lists");
    }
    if (absl::Status gpus = ApplyGpus(o); !gpus.ok()) return gpus;
  }
  if (o.nproc < 0) return FlagError(absl::StrCat("--nproc ", o.nproc, ": expected >= 1"));
  if (o.workers < 0) return FlagError(absl::StrCat("--workers ", o.workers, ": expected >= 1"));
  if (o.servers < 0) return FlagError(absl::StrCat("--servers ", o.servers, ": expected >= 1"));
  if (o.host.empty() || !ParseHostPort(absl::StrCat(o.host, ":1")).ok()) {
    return FlagError(absl::StrCat("--host \"", o.host, "\": expected an address, e.g. 127.0.0.1"));
  }
  bool collective = o.nproc > 0;
  bool ps = o.workers > 0 || o.servers > 0;
  bool explicit_lists = !o.server_endpoints.empty() || !o.worker_endpoints.empty();
  int forms = collective + ps + explicit_lists;
  if (forms == 0) {
    return FlagError(
        "no job given: use --nproc N (collective), --workers N --servers M (parameter server), "
        "or --workers-endpoints LIST [--servers-endpoints LIST]");
  }
  if (forms > 1) {
    return FlagError(
        "--nproc, --workers/--servers and --workers-endpoints/--servers-endpoints describe "
        "different jobs; give one of them");
  }
  if (!collective && (o.nnodes != 1 || o.node_rank != 0 || !o.master.empty())) {
    return FlagError("--nnodes, --node-rank and --master are for collective jobs (--nproc)");
  }
  if (collective) return PlanCollective(o, pick_ports);
  if (ps) return PlanParameterServer(o, pick_ports);
  return PlanExplicit(o);
}

std::vector<std::string> ChildEnvironment(const std::vector<std::string>& inherited,
                                          const PlannedChild& child) {
  const std::vector<std::string>& role_vars = RoleVariableNames();
  std::set<std::string> drop(role_vars.begin(), role_vars.end());
  std::vector<std::string> out;
  for (const std::string& entry : inherited) {
    std::string name = entry.substr(0, entry.find('='));
    if (drop.count(name) == 0 && child.env.count(name) == 0) out.push_back(entry);
  }
  for (const auto& [name, value] : child.env) out.push_back(absl::StrCat(name, "=", value));
  return out;
}

}  // namespace fleet::launch
