// Picking free ports by binding port 0 (runtime/launch/free_ports.h).
#include "runtime/launch/free_ports.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"

namespace fleet::launch {

absl::StatusOr<std::vector<int>> PickFreePorts(const std::string& host, int count) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  if (inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("host \"", host, "\" is not an IPv4 address; ports are picked by binding it"));
  }
  std::vector<int> sockets, ports;
  absl::Status status;
  // All sockets stay bound until every port is read, so the ports are distinct.
  for (int i = 0; i < count && status.ok(); ++i) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in bound = addr;
    socklen_t len = sizeof bound;
    if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&bound), sizeof bound) != 0 ||
        getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &len) != 0) {
      status = absl::UnavailableError(
          absl::StrCat("cannot bind a free port on ", host, ": ", strerror(errno)));
    } else {
      ports.push_back(ntohs(bound.sin_port));
    }
    if (fd >= 0) sockets.push_back(fd);
  }
  for (int fd : sockets) close(fd);
  if (!status.ok()) return status;
  return ports;
}

}  // namespace fleet::launch
