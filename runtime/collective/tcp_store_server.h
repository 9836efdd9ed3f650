// The TCP store's server (runtime/collective/store_wire.h has the protocol): one thread serves
// every client, sleeping in poll() until a client sends, a listener connects, a pending WAIT's
// deadline comes, or the server is stopped. A client that sends something unreadable (wrong magic,
// oversized length, malformed payload) gets an ERROR reply and is disconnected; the others are
// served on.
//
// Thread safety: Start and the destructor are called by the owner; the serving itself happens on
// the server's own thread.
#pragma once

#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"

namespace fleet {
namespace store_wire {
class StoreServerState;
}

class TcpStoreServer {
 public:
  // Listens on host:port (port 0: a free port) and starts serving.
  static absl::StatusOr<std::unique_ptr<TcpStoreServer>> Start(const std::string& host, int port);
  // Stops the thread and closes every connection; clients then see the store as gone.
  ~TcpStoreServer();

  int port() const { return port_; }

 private:
  TcpStoreServer(int listen_fd, int wake_fd, int port);
  void Serve();

  const int listen_fd_;
  const int wake_fd_;  // an eventfd: written to stop the thread
  const int port_;
  std::unique_ptr<store_wire::StoreServerState> state_;  // touched only by the serving thread
  std::thread thread_;
};

}  // namespace fleet
