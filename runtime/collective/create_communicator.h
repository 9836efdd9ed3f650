// CreateCommunicator: a rank's Communicator over the transport that suits its group. Shared
// memory (ShmCommunicator) when every rank of the group runs on this host, Gloo over TCP
// (GlooCommunicator) otherwise; FLEET_COLLECTIVE_TRANSPORT=auto|shm|gloo (read by the Fleet API,
// given here as CommunicatorOptions::transport) forces one. A group on one host connects shared
// memory only, and a group across hosts Gloo only: both transports give bitwise-equal results
// (shm_communicator.h), so the choice changes speed, never numbers.
//
//   CommunicatorOptions options;
//   options.rank = rank;
//   options.size = world;
//   options.store = store;   // a TcpStore or FileStore (store.h), the same for every rank
//   FLEET_ASSIGN_OR_RETURN(std::shared_ptr<Communicator> comm, CreateCommunicator(options));
//
// With kAuto every rank publishes its host identity (host_identity.h) in the store and reads the
// others', so all ranks make the same choice.
// Thread safety: CreateCommunicator may be called from any thread, once per rank.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "runtime/collective/communicator.h"
#include "runtime/collective/store.h"

namespace fleet {

enum class Transport {
  kAuto,  // shared memory when every rank is on this host, else Gloo
  kShm,   // shared memory; FAILED_PRECONDITION when a rank runs on another host
  kGloo,  // Gloo over TCP, wherever the ranks are
};

// The environment variable that forces a transport (read by Fleet::InitWorker).
inline constexpr char kTransportVariable[] = "FLEET_COLLECTIVE_TRANSPORT";

// "auto", "shm" or "gloo"; INVALID_ARGUMENT naming the text otherwise.
absl::StatusOr<Transport> ParseTransport(std::string_view text);
const char* TransportName(Transport transport);

struct CommunicatorOptions {
  int rank = 0;
  int size = 1;
  // Where the ranks meet; the same store (or the same server) for every rank.
  std::shared_ptr<Store> store;
  // The communicator's keys in the store start with it.
  std::string prefix = "fleet/comm";
  // Where Gloo's connections listen (GlooCommunicatorOptions::host, interface).
  std::string host = "127.0.0.1";
  std::string interface;
  std::chrono::milliseconds rendezvous_timeout{std::chrono::seconds(300)};
  std::chrono::milliseconds timeout{std::chrono::seconds(300)};
  Transport transport = Transport::kAuto;
  // What this rank's host is, for tests (ShmCommunicatorOptions::host_identity); empty: this
  // machine's.
  std::string host_identity;
};

// Joins the group over the chosen transport; errors start with "rank N: " and name what failed.
absl::StatusOr<std::shared_ptr<Communicator>> CreateCommunicator(
    const CommunicatorOptions& options);

}  // namespace fleet
