// The parameter-server kernels (runtime/ps/kernels.cc): fleet.ps_pull_sparse, fleet.ps_push and
// fleet.ps_pull_dense on a worker, fleet.ps_serve on a server (schemas: ir/fleet_ps_ops.cc).
// Tools add them to the kernel table at start-up (Fleet::RegisterKernels does).
//
// The worker's kernels reach the servers through the PsClient in their ExecutionEnv
// (env->Set<ps::PsClient>(...), which Fleet::InitWorker installs in a parameter-server job); the
// serve kernel finds where and as whom to serve in a ps::ServeConfig (Fleet::InitServer). Without
// them they fail with FAILED_PRECONDITION naming the op.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "executor/kernel.h"

namespace fleet {

namespace ps {

// How a server's service ended.
struct ServeReport {
  int64_t sparse_rows = 0;                // table rows held
  int64_t sparse_bytes = 0;               // the bytes their values and states take
  std::vector<std::string> lost_workers;  // "worker 1 sent nothing for 10s ...: presumed dead"
};

// What fleet.ps_serve needs to know that the program does not say.
struct ServeConfig {
  std::string endpoint;  // host:port to listen on
  int server = 0;
  int num_servers = 1;
  int num_workers = 1;
  absl::Duration heartbeat_timeout = absl::Seconds(60);
  // A checkpoint to start from (its pserver.<server> folder), or empty.
  std::string load_dir;
  // Called once the server listens (with the port it got), and when its workers are done or
  // lost; either may be empty.
  std::function<void(int port)> on_listening;
  std::function<void(const ServeReport& report)> on_finished;
};

}  // namespace ps

void RegisterParameterServerKernels(KernelTable& table);

}  // namespace fleet
