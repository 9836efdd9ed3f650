// What went wrong in a Gloo call, as a Status that names the peer when it can. Internal to
// runtime/collective (gloo_communicator.cc).
//
// Gloo's TCP transport names a peer by an address of its end of the pair
// ("Read error [127.0.0.1]:41234: Connection reset by peer"); PeerAddresses maps those back to
// ranks.
#pragma once

#include <chrono>
#include <exception>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace fleet {

class PeerAddresses {
 public:
  PeerAddresses() = default;
  // `addresses[r]`: the ways Gloo may print rank r's end of the pair with this rank (none for
  // this rank).
  PeerAddresses(int self, std::vector<std::vector<std::string>> addresses)
      : self_(self), addresses_(std::move(addresses)) {}

  // The rank whose address `message` mentions; in a group of two, the other rank; else -1.
  int RankIn(const std::string& message) const;

 private:
  int self_ = 0;
  std::vector<std::vector<std::string>> addresses_;
};

// The Status for exception `e` thrown by Gloo during `op` ("allreduce", "connect", ...), `elapsed`
// after the call started, with `timeout` as the collectives' timeout:
//   DEADLINE_EXCEEDED  "allreduce: timed out after 5s waiting for rank 1: ... (hint: ...)"
//   UNAVAILABLE        "allreduce: rank 1 unreachable (connection reset) after 0.3s: ... (hint:
//   ...)" RESOURCE_EXHAUSTED for std::bad_alloc; INTERNAL for anything else.
absl::Status GlooFailure(const std::string& op, const std::exception& e, const PeerAddresses& peers,
                         std::chrono::milliseconds elapsed, std::chrono::milliseconds timeout);

}  // namespace fleet
