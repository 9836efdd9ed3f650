// The Fleet API's parameter-server half (runtime/fleet.h): a worker's connection to the servers,
// and a server's run.
#include <cstdlib>
#include <memory>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "executor/executor.h"
#include "executor/scope.h"
#include "ir/status_macros.h"
#include "ir/verify.h"
#include "kernels/cpu/register.h"
#include "runtime/fleet.h"
#include "runtime/ps/client.h"
#include "runtime/ps/communicator.h"
#include "runtime/ps/register.h"

namespace fleet {
namespace {

// FLEET_PS_HEARTBEAT_TIMEOUT in seconds, else `fallback`.
absl::StatusOr<absl::Duration> HeartbeatTimeout(absl::Duration fallback) {
  const char* text = std::getenv("FLEET_PS_HEARTBEAT_TIMEOUT");
  if (text == nullptr || *text == '\0') return fallback;
  double seconds = 0;
  if (!absl::SimpleAtod(text, &seconds) || !(seconds > 0)) {
    return absl::InvalidArgumentError(absl::StrCat("FLEET_PS_HEARTBEAT_TIMEOUT=\"", text,
                                                   "\"; expected a number of seconds > 0"));
  }
  return absl::Seconds(seconds);
}

}  // namespace

absl::Status Fleet::ConnectServers() {
  ps::PsClientOptions options;
  options.endpoints = role_.server_endpoints;
  options.worker = role_.index;
  if (options.endpoints.size() != static_cast<size_t>(role_.num_servers)) {
    return absl::InvalidArgumentError(absl::StrCat(role_.Name(), ": ", role_.num_servers,
                                                   " servers but ", options.endpoints.size(),
                                                   " server endpoints"));
  }
  absl::StatusOr<std::unique_ptr<ps::PsClient>> client = ps::PsClient::Connect(options);
  if (!client.ok()) {
    return absl::Status(client.status().code(),
                        absl::StrCat(role_.Name(), ": ", client.status().message()));
  }
  ps_client_ = std::shared_ptr<ps::PsClient>(*std::move(client));
  env_->Set<ps::PsClient>(ps_client_);
  ps_communicator_ = std::make_shared<ps::AsyncCommunicator>(ps_client_.get());
  env_->Set<ps::AsyncCommunicator>(ps_communicator_);
  return absl::OkStatus();
}

absl::Status Fleet::InitServer(const std::string& model_dir) {
  if (!role_.is_server()) {
    return absl::FailedPreconditionError(
        absl::StrCat("fleet: InitServer on ", role_.Name(), ", which is not a server"));
  }
  if (role_.endpoint.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(role_.Name(),
                     ": no endpoint to listen on (PADDLE_PORT and POD_IP, or this server's "
                     "entry of PADDLE_PSERVERS_IP_PORT_LIST; fleet-launch sets them)"));
  }
  auto config = std::make_shared<ps::ServeConfig>();
  config->endpoint = role_.endpoint;
  config->server = role_.index;
  config->num_servers = role_.num_servers;
  config->num_workers = role_.num_workers;
  config->load_dir = model_dir;
  FLEET_ASSIGN_OR_RETURN(config->heartbeat_timeout, HeartbeatTimeout(config->heartbeat_timeout));
  env_->Set<ps::ServeConfig>(std::move(config));
  return absl::OkStatus();
}

absl::Status Fleet::RunServer(const Job& job, std::ostream& log) {
  ps::ServeConfig* config = env_->Get<ps::ServeConfig>();
  if (config == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat(role_.Name(), ": RunServer before InitServer"));
  }
  const std::string name = ServerProgramName(role_.index);
  const Program* program = job.Find(name);
  if (program == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(role_.Name(), ": the job has no program \"", name,
                     "\" (hint: transpile with --strategy ps and at least ", role_.index + 1,
                     " servers, and launch as many servers as it was transpiled for)"));
  }
  FLEET_RETURN_IF_ERROR(Verify(*program));
  const std::string who = role_.Name();
  config->on_listening = [&log, who, endpoint = config->endpoint](int port) {
    log << "fleet: " << who << " serving on " << endpoint << " (port " << port << ")" << std::endl;
  };
  config->on_finished = [&log, who](const ps::ServeReport& report) {
    for (const std::string& lost : report.lost_workers) {
      log << "fleet: " << who << ": " << lost << std::endl;
    }
    log << "fleet: " << who << ": "
        << (report.lost_workers.empty() ? "every worker is done" : "the other workers are done")
        << "; " << report.sparse_rows << " sparse rows held (" << report.sparse_bytes << " bytes)"
        << std::endl;
  };
  KernelTable kernels;
  RegisterCpuKernels(kernels);
  RegisterKernels(kernels);
  ExecutorOptions options;
  options.env = env_;
  Scope scope;
  if (const Program* startup = job.Find(StartupProgramNameOf(name))) {
    FLEET_RETURN_IF_ERROR(Verify(*startup));
    FLEET_ASSIGN_OR_RETURN(std::unique_ptr<Executor> init,
                           Executor::Create(*startup, kernels, options));
    FLEET_RETURN_IF_ERROR(init->Run(scope));
  }
  FLEET_ASSIGN_OR_RETURN(std::unique_ptr<Executor> serve,
                         Executor::Create(*program, kernels, options));
  absl::Status served = serve->Run(scope);
  if (!served.ok()) {
    return absl::Status(served.code(), absl::StrCat(who, ": ", served.message()));
  }
  return absl::OkStatus();
}

}  // namespace fleet
