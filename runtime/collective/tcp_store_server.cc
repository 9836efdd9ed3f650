#include "runtime/collective/tcp_store_server.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <string_view>
#include <vector>

#include "absl/strings/str_cat.h"
#include "runtime/collective/store_server_state.h"

namespace fleet {

using store_wire::Connection;
using store_wire::SteadyClock;

namespace {

// More clients than any job has ranks; beyond it new connections are refused (closed).
constexpr size_t kMaxClients = 4096;

}  // namespace

absl::StatusOr<std::unique_ptr<TcpStoreServer>> TcpStoreServer::Start(const std::string& host,
                                                                      int port) {
  int bound_port = 0;
  absl::StatusOr<int> listen_fd = store_wire::Listen(host, port, &bound_port);
  if (!listen_fd.ok()) {
    return absl::Status(listen_fd.status().code(),
                        absl::StrCat("store server: ", listen_fd.status().message()));
  }
  int wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake_fd < 0) {
    close(*listen_fd);
    return absl::InternalError(absl::StrCat("store server: eventfd: ", std::strerror(errno)));
  }
  std::unique_ptr<TcpStoreServer> server(new TcpStoreServer(*listen_fd, wake_fd, bound_port));
  server->thread_ = std::thread([s = server.get()] { s->Serve(); });
  return server;
}

TcpStoreServer::TcpStoreServer(int listen_fd, int wake_fd, int port)
    : listen_fd_(listen_fd),
      wake_fd_(wake_fd),
      port_(port),
      state_(std::make_unique<store_wire::StoreServerState>()) {}

TcpStoreServer::~TcpStoreServer() {
  uint64_t one = 1;
  if (write(wake_fd_, &one, sizeof(one)) < 0) {
    // An eventfd write fails only when the counter would overflow: the thread is woken anyway.
  }
  if (thread_.joinable()) thread_.join();
  for (const Connection& c : state_->connections()) close(c.fd);
  close(listen_fd_);
  close(wake_fd_);
}

void TcpStoreServer::Serve() {
  store_wire::StoreServerState& s = *state_;
  std::vector<pollfd> fds;
  for (;;) {
    fds.clear();
    fds.push_back({wake_fd_, POLLIN, 0});
    fds.push_back({listen_fd_, POLLIN, 0});
    for (const Connection& c : s.connections()) {
      short events = c.out.empty() ? 0 : POLLOUT;
      // While a wait is pending, read nothing more (a client sends one request at a time), but
      // notice a hang-up.
      events |= (c.wait || c.hang_up_after_reply) ? POLLRDHUP : POLLIN;
      fds.push_back({c.fd, events, 0});
    }
    int rc = poll(fds.data(), fds.size(), s.PollTimeoutMillis());
    if (rc < 0 && errno != EINTR) return;  // cannot happen with valid descriptors
    if (fds[0].revents & POLLIN) return;   // stopped

    for (size_t i = 0; i < s.connections().size(); ++i) {
      Connection& c = s.connections()[i];
      const short revents = fds[i + 2].revents;
      if (revents & (POLLERR | POLLHUP | POLLRDHUP | POLLNVAL)) {
        c.closed = true;
        continue;
      }
      if (revents & POLLIN) {
        char buf[65536];
        ssize_t n = recv(c.fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
          c.closed = true;
          continue;
        }
        if (n > 0) s.Receive(c, std::string_view(buf, static_cast<size_t>(n)), SteadyClock::now());
      }
    }
    s.ResolveWaits(SteadyClock::now());  // after every SET above, and at wait deadlines
    for (Connection& c : s.connections()) {
      if (c.closed || c.out.empty()) continue;
      ssize_t n = send(c.fd, c.out.data(), c.out.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n > 0) c.out.erase(0, static_cast<size_t>(n));
      if (n < 0 && errno != EAGAIN && errno != EINTR) c.closed = true;
      if (c.out.empty() && c.hang_up_after_reply) c.closed = true;
    }
    std::vector<Connection>& connections = s.connections();
    for (const Connection& c : connections) {
      if (c.closed) close(c.fd);
    }
    connections.erase(std::remove_if(connections.begin(), connections.end(),
                                     [](const Connection& c) { return c.closed; }),
                      connections.end());

    if (fds[1].revents & POLLIN) {
      for (;;) {
        int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0) break;  // EAGAIN: no more pending connections
        if (s.connections().size() >= kMaxClients) {
          close(fd);
          continue;
        }
        Connection c;
        c.fd = fd;
        s.connections().push_back(std::move(c));
      }
    }
  }
}

}  // namespace fleet
