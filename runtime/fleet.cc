// The Fleet API (runtime/fleet.h).
#include "runtime/fleet.h"

#include <unistd.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "ir/status_macros.h"
#include "runtime/collective/communicator.h"
#include "runtime/collective/create_communicator.h"
#include "runtime/collective/register.h"
#include "runtime/collective/store.h"
#include "runtime/endpoint.h"
#include "runtime/ps/client.h"
#include "runtime/ps/communicator.h"
#include "runtime/ps/register.h"

namespace fleet {
namespace {

// A role's "host:port" (checked by its role maker) with the host as a socket takes it: an
// IPv6 literal loses its brackets.
absl::StatusOr<HostPort> SocketEndpoint(const std::string& text) {
  absl::StatusOr<HostPort> endpoint = ParseHostPort(text);
  if (!endpoint.ok()) return endpoint.status();
  const std::string& host = endpoint->host;
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    endpoint->host = host.substr(1, host.size() - 2);
  }
  return endpoint;
}

}  // namespace

Fleet::Fleet(Role role, FleetOptions options)
    : role_(std::move(role)), options_(options), env_(std::make_shared<ExecutionEnv>()) {}

Fleet::~Fleet() {
  // The communicator's sender uses the client: it goes first.
  if (ps_communicator_ != nullptr) env_->Set<ps::AsyncCommunicator>(nullptr);
  ps_communicator_.reset();
}

absl::StatusOr<std::unique_ptr<Fleet>> Fleet::Init(Role role, FleetOptions options) {
  if (role.num_workers < 1 || role.index < 0 ||
      (role.is_worker() && role.index >= role.num_workers) ||
      (role.is_server() && role.index >= role.num_servers)) {
    return absl::InvalidArgumentError(
        absl::StrCat("fleet: role ", role.DebugString(), " is not consistent"));
  }
  return std::unique_ptr<Fleet>(new Fleet(std::move(role), options));
}

absl::Status Fleet::InitWorker() {
  if (!role_.is_worker()) {
    return absl::FailedPreconditionError(
        absl::StrCat("fleet: InitWorker on ", role_.Name(), ", which is not a worker"));
  }
  if (communicator_ != nullptr || ps_client_ != nullptr) return absl::OkStatus();
  const std::string who = role_.Name();
  if (role_.num_servers > 0) return ConnectServers();
  std::string host = "127.0.0.1";
  int port = 0;
  if (role_.num_workers > 1) {
    if (role_.master.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(who, ": a job of ", role_.num_workers,
                       " workers needs a rendezvous master (MASTER_ADDR and MASTER_PORT, or "
                       "PADDLE_TRAINER_ENDPOINTS; fleet-launch sets them)"));
    }
    FLEET_ASSIGN_OR_RETURN(HostPort master, SocketEndpoint(role_.master));
    host = master.host;
    port = master.port;
  }
  absl::StatusOr<std::unique_ptr<TcpStore>> store =
      role_.index == 0 ? TcpStore::Serve(host, port)
                       : TcpStore::Connect(host, port, options_.rendezvous_timeout);
  if (!store.ok()) {
    return absl::Status(store.status().code(),
                        absl::StrCat(who, ": rendezvous store: ", store.status().message()));
  }
  store_ = *std::move(store);
  CommunicatorOptions comm;
  comm.transport = options_.transport;
  if (std::optional<std::string> forced = ProcessEnvironment()(kTransportVariable)) {
    absl::StatusOr<Transport> transport = ParseTransport(*forced);
    if (!transport.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(who, ": ", kTransportVariable, ": ", transport.status().message()));
    }
    comm.transport = *transport;
  }
  comm.rank = role_.index;
  comm.size = role_.num_workers;
  comm.store = store_;
  comm.rendezvous_timeout = options_.rendezvous_timeout;
  comm.timeout = options_.collective_timeout;
  comm.interface = options_.interface;
  if (!options_.host.empty()) {
    comm.host = options_.host;
  } else if (!role_.endpoint.empty()) {
    FLEET_ASSIGN_OR_RETURN(HostPort own, SocketEndpoint(role_.endpoint));
    comm.host = own.host;
  } else if (host != "127.0.0.1" && host != "localhost" && host != "::1") {
    char name[256] = {};
    if (gethostname(name, sizeof(name) - 1) == 0) comm.host = name;
  }
  absl::StatusOr<std::shared_ptr<Communicator>> created = CreateCommunicator(comm);
  if (!created.ok()) {
    return absl::Status(created.status().code(),
                        absl::StrCat(who, ": ", created.status().message()));
  }
  communicator_ = *std::move(created);
  communicator_options_ = comm;
  env_->Set<Communicator>(communicator_);
  return absl::OkStatus();
}

absl::Status Fleet::InitDeviceCommunicator(const DeviceCommunicatorFactory& create) {
  if (communicator_ == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat(
        role_.Name(), ": a device communicator needs InitWorker of a collective job first"));
  }
  if (!create) {
    return absl::InvalidArgumentError(
        absl::StrCat(role_.Name(), ": no way to make a device communicator was given"));
  }
  CommunicatorOptions options = communicator_options_;
  options.prefix = "fleet/device";
  absl::StatusOr<std::shared_ptr<Communicator>> created = create(options);
  if (!created.ok()) {
    return absl::Status(created.status().code(),
                        absl::StrCat(role_.Name(), ": device communicator: ",
                                     created.status().message()));
  }
  env_->Set(std::make_shared<DeviceCommunicator>(DeviceCommunicator{*std::move(created)}));
  return absl::OkStatus();
}

Communicator* Fleet::device_communicator() const {
  const DeviceCommunicator* on_device = env_->Get<DeviceCommunicator>();
  return on_device != nullptr ? on_device->communicator.get() : nullptr;
}

CommunicatorStats Fleet::CollectiveStats() const {
  CommunicatorStats stats = communicator_ != nullptr ? communicator_->stats() : CommunicatorStats();
  if (Communicator* on_device = device_communicator()) stats = Sum(stats, on_device->stats());
  return stats;
}

absl::Status Fleet::StopWorker() {
  if (ps_client_ != nullptr) {
    // Gradients still queued for the servers go out before the servers hear "done".
    absl::Status done = ps_communicator_ != nullptr ? ps_communicator_->Flush() : absl::OkStatus();
    env_->Set<ps::AsyncCommunicator>(nullptr);
    ps_communicator_.reset();
    if (done.ok()) done = ps_client_->Done();
    if (!done.ok()) {
      return absl::Status(done.code(), absl::StrCat(role_.Name(), ": stopping: ", done.message()));
    }
    return absl::OkStatus();
  }
  if (communicator_ == nullptr) return absl::OkStatus();
  FLEET_ASSIGN_OR_RETURN(std::shared_ptr<Event> done, communicator_->Barrier());
  absl::Status status = done->Wait(Clock::now() + options_.collective_timeout);
  if (!status.ok()) {
    return absl::Status(status.code(),
                        absl::StrCat(role_.Name(), ": stopping: ", status.message()));
  }
  return absl::OkStatus();
}

void Fleet::RegisterKernels(KernelTable& table) {
  RegisterCollectiveKernels(table);
  RegisterParameterServerKernels(table);
}

}  // namespace fleet
