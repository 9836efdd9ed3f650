// The parameter server on the network: serves a ServerCore's requests over gRPC (ps.proto's
// ParameterServer service) on one endpoint, from gRPC's own pool of request threads.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "runtime/ps/server_core.h"

namespace grpc {
class Server;
}

namespace fleet::ps {

// The largest message either side accepts (gRPC's own default is 4 MiB). A table's rows for a
// large batch or a big dense block pass under it; anything larger is refused with
// RESOURCE_EXHAUSTED naming the limit.
inline constexpr int64_t kDefaultMaxMessageBytes = int64_t{1} << 30;

class PsService {
 public:
  // Listens on `endpoint` (host:port; port 0 picks a free one) and serves `core`, which must
  // outlive the service. UNAVAILABLE naming the endpoint when it cannot listen there (port in
  // use, unknown host).
  static absl::StatusOr<std::unique_ptr<PsService>> Start(
      const std::string& endpoint, ServerCore* core,
      int64_t max_message_bytes = kDefaultMaxMessageBytes);
  ~PsService();  // shuts down if still serving

  int port() const { return port_; }
  // Stops accepting calls and waits up to `grace` for those in progress (then cancels them).
  void Shutdown(absl::Duration grace);

 private:
  class Impl;
  PsService() = default;
  std::unique_ptr<Impl> impl_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

}  // namespace fleet::ps
