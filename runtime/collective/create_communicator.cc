#include "runtime/collective/create_communicator.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "ir/status_macros.h"
#include "runtime/collective/gloo_communicator.h"
#include "runtime/collective/host_identity.h"
#include "runtime/collective/shm_communicator.h"

namespace fleet {
namespace {

// Whether every rank runs on this rank's host, agreed through the store.
absl::StatusOr<bool> AllOnOneHost(const CommunicatorOptions& o) {
  const std::string prefix = absl::StrCat(o.prefix, "/transport");
  FLEET_RETURN_IF_ERROR(Rendezvous(*o.store, prefix, o.rank, o.size, o.rendezvous_timeout));
  FLEET_ASSIGN_OR_RETURN(
      std::vector<std::string> hosts,
      ExchangeHostIdentities(*o.store, prefix, o.rank, o.size,
                             o.host_identity.empty() ? HostIdentity() : o.host_identity,
                             o.rendezvous_timeout));
  return FirstRankOnAnotherHost(hosts) < 0;
}

}  // namespace

absl::StatusOr<Transport> ParseTransport(std::string_view text) {
  if (text == "auto") return Transport::kAuto;
  if (text == "shm") return Transport::kShm;
  if (text == "gloo") return Transport::kGloo;
  return absl::InvalidArgumentError(
      absl::StrCat("collective transport '", std::string(text), "'; expected auto, shm or gloo"));
}

const char* TransportName(Transport transport) {
  switch (transport) {
    case Transport::kAuto:
      return "auto";
    case Transport::kShm:
      return "shm";
    case Transport::kGloo:
      return "gloo";
  }
  return "unknown";
}

absl::StatusOr<std::shared_ptr<Communicator>> CreateCommunicator(
    const CommunicatorOptions& options) {
  if (options.store == nullptr) {
    return absl::InvalidArgumentError("CreateCommunicator: no store to meet the other ranks in");
  }
  Transport transport = options.transport;
  if (transport == Transport::kAuto) {
    absl::StatusOr<bool> one_host = AllOnOneHost(options);
    if (!one_host.ok()) {
      return absl::Status(one_host.status().code(),
                          absl::StrCat("rank ", options.rank, ": ", one_host.status().message()));
    }
    transport = *one_host ? Transport::kShm : Transport::kGloo;
  }
  if (transport == Transport::kShm) {
    ShmCommunicatorOptions shm;
    shm.rank = options.rank;
    shm.size = options.size;
    shm.store = options.store;
    shm.prefix = options.prefix;
    shm.rendezvous_timeout = options.rendezvous_timeout;
    shm.timeout = options.timeout;
    shm.host_identity = options.host_identity;
    FLEET_ASSIGN_OR_RETURN(std::shared_ptr<ShmCommunicator> comm, ShmCommunicator::Create(shm));
    return std::shared_ptr<Communicator>(std::move(comm));
  }
  GlooCommunicatorOptions gloo;
  gloo.rank = options.rank;
  gloo.size = options.size;
  gloo.store = options.store;
  gloo.prefix = options.prefix;
  gloo.host = options.host;
  gloo.interface = options.interface;
  gloo.rendezvous_timeout = options.rendezvous_timeout;
  gloo.timeout = options.timeout;
  FLEET_ASSIGN_OR_RETURN(std::shared_ptr<GlooCommunicator> comm, GlooCommunicator::Create(gloo));
  return std::shared_ptr<Communicator>(std::move(comm));
}

}  // namespace fleet
