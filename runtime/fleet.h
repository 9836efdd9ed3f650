// The Fleet API: what a training program calls to take part in a distributed job, after
// PaddlePaddle's fleet (init, is_worker, is_server, init_worker, stop_worker, ...).
//
//   FLEET_ASSIGN_OR_RETURN(std::unique_ptr<Fleet> fleet,
//                          Fleet::Init(RoleFromEnvironment(ProcessEnvironment())));
//   if (fleet->IsWorker()) {
//     FLEET_RETURN_IF_ERROR(fleet->InitWorker());     // meets the other workers
//     KernelTable kernels;
//     RegisterCpuKernels(kernels);
//     Fleet::RegisterKernels(kernels);                // fleet.allreduce, fleet.broadcast, ...
//     ExecutorOptions options;
//     options.env = fleet->env();                     // how those kernels reach the transport
//     ... train on shard fleet->WorkerIndex() of fleet->WorkerNum() ...
//     FLEET_RETURN_IF_ERROR(fleet->StopWorker());
//   }
//
// Collective jobs (a role without servers): InitWorker connects a Communicator to every other
// worker, meeting them at the role's master, where worker 0 serves the rendezvous store: over
// shared memory when all workers run on one host, over Gloo (TCP) otherwise, or as
// FLEET_COLLECTIVE_TRANSPORT=auto|shm|gloo says (runtime/collective/create_communicator.h,
// docs/collectives.md).
//
// Parameter-server jobs (a role with servers): InitWorker connects a ps::PsClient to every
// server (waiting for them to come up) and StopWorker tells them this worker is done; a server
// process calls InitServer and then RunServer(job), which serves until every worker is done:
//
//   if (fleet->IsServer()) {
//     FLEET_RETURN_IF_ERROR(fleet->InitServer());
//     return fleet->RunServer(job, std::cerr);        // the job's "pserver.<index>" program
//   }
//
// The job is a folder fleet-transpile wrote (ir/job_file.h), or the one every process makes for
// itself with DistributedOptimizer(optimizer, strategy).Minimize(model), the API's transpile
// step, which lives in passes/distributed_optimizer.h because runtime/ may not include passes/
// (examples/ps_train.cc uses both).
//
// Thread safety: one thread calls Init, InitWorker and StopWorker; env() and the role queries
// may then be called from any thread.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <ostream>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "executor/execution_env.h"
#include "executor/kernel.h"
#include "ir/job.h"
#include "runtime/collective/create_communicator.h"
#include "runtime/role_maker.h"

namespace fleet {

namespace ps {
class AsyncCommunicator;
class PsClient;
}  // namespace ps

struct FleetOptions {
  // How long InitWorker waits for every worker to arrive.
  std::chrono::milliseconds rendezvous_timeout{std::chrono::seconds(300)};
  // How long one collective may wait for the other workers (a dead peer is reported after it).
  std::chrono::milliseconds collective_timeout{std::chrono::seconds(300)};
  // Where this worker's collective connections listen: a network interface name (torch's
  // GLOO_SOCKET_IFNAME) wins over an address of this host (FLEET_HOST, which fleet-launch sets
  // from its --host). With neither: the role's own endpoint's host, else 127.0.0.1 when the
  // master is on this host's loopback, else this host's name.
  std::string interface;
  std::string host;
  // Which transport carries the collectives; FLEET_COLLECTIVE_TRANSPORT, when set, wins.
  Transport transport = Transport::kAuto;
};

class Fleet {
 public:
  // Takes part in the job as `role` (from a RoleMaker); INVALID_ARGUMENT for a role whose
  // counts do not fit together.
  static absl::StatusOr<std::unique_ptr<Fleet>> Init(Role role, FleetOptions options = {});
  ~Fleet();

  const Role& role() const { return role_; }
  bool IsWorker() const { return role_.is_worker(); }
  bool IsServer() const { return role_.is_server(); }
  bool IsFirstWorker() const { return role_.is_worker() && role_.index == 0; }
  int WorkerIndex() const { return role_.index; }
  int WorkerNum() const { return role_.num_workers; }

  // Joins the other workers: worker 0 serves the rendezvous store at the role's master (a
  // free local port in a job of one), every worker connects a Communicator and installs it in
  // env(). Errors name what failed: a master address that cannot be bound or reached, a worker
  // that never arrived, a FLEET_COLLECTIVE_TRANSPORT that is not auto, shm or gloo.
  absl::Status InitWorker();

  // The environment the worker's executors take (ExecutorOptions::env); holds the
  // Communicator after InitWorker.
  std::shared_ptr<ExecutionEnv> env() const { return env_; }
  // The communicator, or null before InitWorker.
  Communicator* communicator() const { return communicator_.get(); }

  // Makes a worker's communicator for tensors in device memory, from the options InitWorker
  // used for the host's one (rank, size, store, timeouts; the prefix is the device's own).
  // fleet-run's RunDevice gives one that joins NCCL on the worker's GPU.
  using DeviceCommunicatorFactory =
      std::function<absl::StatusOr<std::shared_ptr<Communicator>>(const CommunicatorOptions&)>;
  // Collective job on devices, after InitWorker: every worker calls it, meeting the others in
  // the job's store, and the communicator `create` makes is installed in env() as the
  // DeviceCommunicator that the device's collective kernels use. The host's communicator stays
  // for host tensors. FAILED_PRECONDITION before InitWorker or in a parameter-server job.
  absl::Status InitDeviceCommunicator(const DeviceCommunicatorFactory& create);
  // The device communicator, or null before InitDeviceCommunicator.
  Communicator* device_communicator() const;
  // Every collective this worker has run, on the host and on the device together.
  CommunicatorStats CollectiveStats() const;

  // Collective job: waits until every worker has reached StopWorker (so worker 0's store
  // outlives the others' last use of it), then closes the connections. Parameter-server job:
  // tells every server this worker is done.
  absl::Status StopWorker();

  // A parameter server's set-up: where to listen (the role's endpoint) and for whom.
  // `model_dir`, when given, is a checkpoint to start from. FLEET_PS_HEARTBEAT_TIMEOUT (seconds)
  // sets how long a silent worker is waited for before it is presumed dead (default 60).
  absl::Status InitServer(const std::string& model_dir = "");
  // Runs this server's programs of `job` ("pserver.<index>.startup", then "pserver.<index>"):
  // serves until every worker is done, then returns. Progress lines go to `log`.
  absl::Status RunServer(const Job& job, std::ostream& log);

  // The parameter-server client after InitWorker in a parameter-server job, else null.
  ps::PsClient* ps_client() const { return ps_client_.get(); }
  // Its background sender (async and half-async modes), likewise.
  ps::AsyncCommunicator* ps_communicator() const { return ps_communicator_.get(); }

  // Adds the runtime's kernels (collectives, parameter-server ops) to `table`.
  static void RegisterKernels(KernelTable& table);

 private:
  Fleet(Role role, FleetOptions options);
  // InitWorker's parameter-server half (runtime/fleet_ps.cc).
  absl::Status ConnectServers();

  Role role_;
  FleetOptions options_;
  std::shared_ptr<ExecutionEnv> env_;
  std::shared_ptr<Store> store_;
  std::shared_ptr<Communicator> communicator_;
  CommunicatorOptions communicator_options_;  // InitWorker's, for the device communicator
  std::shared_ptr<ps::PsClient> ps_client_;
  std::shared_ptr<ps::AsyncCommunicator> ps_communicator_;  // uses ps_client_
};

}  // namespace fleet
