#include "runtime/collective/tcp_store_server.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <map>
#include <optional>
#include <string_view>
#include <vector>

#include "absl/strings/str_cat.h"
#include "runtime/collective/store_wire.h"
#include "runtime/collective/timeout.h"

namespace fleet {

using store_wire::Kind;
using SteadyClock = std::chrono::steady_clock;

namespace {

// More clients than any job has ranks; beyond it new connections are refused (closed).
constexpr size_t kMaxClients = 4096;
// The longest WAIT the server honours, whatever a client asks for.
constexpr std::chrono::hours kMaxWait{24};

struct PendingWait {
  std::vector<std::string> keys;
  SteadyClock::time_point deadline;
};

struct Connection {
  int fd = -1;
  std::string in;   // bytes received, not yet handled
  std::string out;  // reply bytes not yet sent
  bool hang_up_after_reply = false;
  bool closed = false;
  std::optional<PendingWait> wait;  // no further request is read while one waits
};

}  // namespace

struct TcpStoreServer::State {
  std::map<std::string, std::string, std::less<>> keys;
  std::vector<Connection> connections;

  void Reply(Connection& c, Kind kind, std::string_view payload = {}) {
    c.out += store_wire::EncodeMessage(kind, payload);
  }
  void Reject(Connection& c, std::string_view why) {
    Reply(c, Kind::kError, why);
    c.hang_up_after_reply = true;
    c.in.clear();
  }

  std::vector<std::string> Missing(const std::vector<std::string>& wanted) const {
    std::vector<std::string> missing;
    for (const std::string& k : wanted) {
      if (keys.find(k) == keys.end()) missing.push_back(k);
    }
    return missing;
  }

  void Handle(Connection& c, Kind kind, std::string_view payload) {
    store_wire::PayloadReader r(payload);
    switch (kind) {
      case Kind::kSet: {
        std::string key, value;
        if (!r.Str(&key) || !r.Str(&value) || !r.done()) return Reject(c, "malformed SET request");
        keys[key] = std::move(value);
        return Reply(c, Kind::kOk);
      }
      case Kind::kGet: {
        std::string key;
        if (!r.Str(&key) || !r.done()) return Reject(c, "malformed GET request");
        auto it = keys.find(key);
        if (it == keys.end()) return Reply(c, Kind::kNotFound);
        store_wire::PayloadWriter w;
        w.Str(it->second);
        return Reply(c, Kind::kOk, w.Take());
      }
      case Kind::kWait: {
        uint64_t timeout_ms = 0;
        uint32_t n = 0;
        if (!r.U64(&timeout_ms) || !r.U32(&n)) return Reject(c, "malformed WAIT request");
        PendingWait wait;
        for (uint32_t i = 0; i < n; ++i) {
          std::string key;
          if (!r.Str(&key)) return Reject(c, "malformed WAIT request");
          wait.keys.push_back(std::move(key));
        }
        if (!r.done()) return Reject(c, "malformed WAIT request");
        if (Missing(wait.keys).empty()) return Reply(c, Kind::kOk);
        const auto timeout = std::min<std::chrono::milliseconds>(
            std::chrono::milliseconds(std::min<uint64_t>(timeout_ms, 1ull << 40)), kMaxWait);
        wait.deadline = SteadyClock::now() + timeout;
        c.wait = std::move(wait);
        return;
      }
      default:
        return Reject(c, absl::StrCat("unexpected message kind ", static_cast<uint32_t>(kind),
                                      " from a client"));
    }
  }

  // Handles every whole request buffered on `c` (stopping at a pending wait).
  void HandleInput(Connection& c) {
    while (!c.wait && !c.hang_up_after_reply && c.in.size() >= store_wire::kHeaderBytes) {
      auto header = store_wire::DecodeHeader(c.in.data());
      if (!header.ok()) return Reject(c, std::string(header.status().message()));
      const size_t total = store_wire::kHeaderBytes + header->length;
      if (c.in.size() < total) return;
      Handle(c, header->kind,
             std::string_view(c.in).substr(store_wire::kHeaderBytes, header->length));
      c.in.erase(0, total);
    }
  }

  // Answers the waits whose keys are all set, or whose deadline has passed.
  void ResolveWaits() {
    const auto now = SteadyClock::now();
    for (Connection& c : connections) {
      if (!c.wait) continue;
      std::vector<std::string> missing = Missing(c.wait->keys);
      if (missing.empty()) {
        Reply(c, Kind::kOk);
      } else if (now >= c.wait->deadline) {
        store_wire::PayloadWriter w;
        w.U32(static_cast<uint32_t>(missing.size()));
        for (const std::string& k : missing) w.Str(k);
        Reply(c, Kind::kTimeout, w.Take());
      } else {
        continue;
      }
      c.wait.reset();
      HandleInput(c);
    }
  }

  // poll() timeout: until the nearest wait deadline, or forever (-1).
  int PollTimeout() const {
    std::optional<SteadyClock::time_point> nearest;
    for (const Connection& c : connections) {
      if (c.wait && (!nearest || c.wait->deadline < *nearest)) nearest = c.wait->deadline;
    }
    return nearest ? MillisLeft(*nearest) : -1;
  }
};

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
    : listen_fd_(listen_fd), wake_fd_(wake_fd), port_(port), state_(std::make_unique<State>()) {}

TcpStoreServer::~TcpStoreServer() {
  uint64_t one = 1;
  if (write(wake_fd_, &one, sizeof(one)) < 0) {
    // An eventfd write fails only when the counter would overflow: the thread is woken anyway.
  }
  if (thread_.joinable()) thread_.join();
  for (Connection& c : state_->connections) close(c.fd);
  close(listen_fd_);
  close(wake_fd_);
}

void TcpStoreServer::Serve() {
  State& s = *state_;
  std::vector<pollfd> fds;
  for (;;) {
    fds.clear();
    fds.push_back({wake_fd_, POLLIN, 0});
    fds.push_back({listen_fd_, POLLIN, 0});
    for (const Connection& c : s.connections) {
      short events = c.out.empty() ? 0 : POLLOUT;
      // While a wait is pending, read nothing more (a client sends one request at a time), but
      // notice a hang-up.
      events |= (c.wait || c.hang_up_after_reply) ? POLLRDHUP : POLLIN;
      fds.push_back({c.fd, events, 0});
    }
    int rc = poll(fds.data(), fds.size(), s.PollTimeout());
    if (rc < 0 && errno != EINTR) return;  // cannot happen with valid descriptors
    if (fds[0].revents & POLLIN) return;   // stopped

    for (size_t i = 0; i < s.connections.size(); ++i) {
      Connection& c = s.connections[i];
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
        if (n > 0) {
          c.in.append(buf, static_cast<size_t>(n));
          s.HandleInput(c);
        }
      }
    }
    s.ResolveWaits();  // after every SET above, and at wait deadlines
    for (Connection& c : s.connections) {
      if (c.closed || c.out.empty()) continue;
      ssize_t n = send(c.fd, c.out.data(), c.out.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n > 0) c.out.erase(0, static_cast<size_t>(n));
      if (n < 0 && errno != EAGAIN && errno != EINTR) c.closed = true;
      if (c.out.empty() && c.hang_up_after_reply) c.closed = true;
    }
    for (const Connection& c : s.connections) {
      if (c.closed) close(c.fd);
    }
    s.connections.erase(std::remove_if(s.connections.begin(), s.connections.end(),
                                       [](const Connection& c) { return c.closed; }),
                        s.connections.end());

    if (fds[1].revents & POLLIN) {
      for (;;) {
        int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0) break;  // EAGAIN: no more pending connections
        if (s.connections.size() >= kMaxClients) {
          close(fd);
          continue;
        }
        Connection c;
        c.fd = fd;
        s.connections.push_back(std::move(c));
      }
    }
  }
}

}  // namespace fleet
