// What fleet-launch starts: from its flags, the list of processes on this node and the role
// environment of each (Paddle's variables and torchrun's, plus FLEET_ROLE), such that
// RoleFromEnvironment in the child gives the role meant for it (docs/launch.md).
//
// Thread safety: plain functions and values.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/role_maker.h"

namespace fleet::launch {

// fleet-launch's job flags. Exactly one form is used:
// - collective:        nproc > 0, and for several nodes nnodes, node_rank and master;
// - parameter server:  workers > 0 and servers > 0, endpoints picked free on `host`;
// - explicit:          worker_endpoints (and server_endpoints for a parameter-server job) for
//                      the whole job; this node starts the entries whose host is `host`.
struct LaunchOptions {
  int nproc = 0;
  // --gpus: one collective process per listed GPU (CUDA_VISIBLE_DEVICES ids of this node); sets
  // nproc. Each process sees only its GPU, as cuda:0 (FLEET_DEVICE).
  std::vector<std::string> gpus;
  int workers = 0;
  int servers = 0;
  std::vector<std::string> server_endpoints;
  std::vector<std::string> worker_endpoints;
  int nnodes = 1;
  int node_rank = 0;
  std::string master;              // "host:port"; collective jobs over several nodes
  std::string host = "127.0.0.1";  // this node's address
};

// One process to start.
struct PlannedChild {
  RoleKind kind = RoleKind::kWorker;
  int index = 0;                           // among its kind, in the whole job
  std::string name;                        // "worker.1": output prefix, log file name, FLEET_ROLE
  std::string endpoint;                    // "host:port"
  std::map<std::string, std::string> env;  // role variables to set
};

struct LaunchPlan {
  std::vector<PlannedChild> children;  // servers first, then workers, each by index
  // One line: "2 workers, 1 server on 127.0.0.1 (parameter server)".
  std::string summary;
};

// Gives `count` free ports on a host (PickFreePorts, or a fixed list in tests).
using PortPicker =
    std::function<absl::StatusOr<std::vector<int>>(const std::string& host, int count)>;

// Checks the options (INVALID_ARGUMENT naming the flag: "--node-rank 2: out of range for
// --nnodes 2; expected 0..1") and plans the children.
absl::StatusOr<LaunchPlan> PlanLaunch(const LaunchOptions& options, const PortPicker& pick_ports);

// The environment of a child: `inherited` ("NAME=value" entries, e.g. from environ) without any
// role variable (RoleVariableNames), plus the child's role variables.
std::vector<std::string> ChildEnvironment(const std::vector<std::string>& inherited,
                                          const PlannedChild& child);

}  // namespace fleet::launch
