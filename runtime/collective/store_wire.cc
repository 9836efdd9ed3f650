#include "runtime/collective/store_wire.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include "absl/strings/str_cat.h"
#include "ir/status_macros.h"
#include "runtime/collective/timeout.h"

namespace fleet::store_wire {
namespace {

std::string Errno() { return std::strerror(errno); }

// getaddrinfo's answers for host:port, freed on scope exit.
using AddrList = std::unique_ptr<addrinfo, decltype(&freeaddrinfo)>;

absl::StatusOr<AddrList> Resolve(const std::string& host, int port, bool passive) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
  addrinfo* list = nullptr;
  const std::string service = std::to_string(port);
  int rc = getaddrinfo(host.c_str(), service.c_str(), &hints, &list);
  if (rc != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot resolve '", host, "': ", gai_strerror(rc)));
  }
  return AddrList(list, &freeaddrinfo);
}

absl::Status SetNonBlocking(int fd, bool on) {
  int flags = fcntl(fd, F_GETFL, 0);
  if (flags < 0 || fcntl(fd, F_SETFL, on ? flags | O_NONBLOCK : flags & ~O_NONBLOCK) < 0) {
    return absl::InternalError(absl::StrCat("fcntl: ", Errno()));
  }
  return absl::OkStatus();
}

// Waits until `fd` has one of `events` or `deadline` passes; false on timeout.
absl::StatusOr<bool> PollUntil(int fd, short events, Deadline deadline) {
  for (;;) {
    pollfd p{fd, events, 0};
    int rc = poll(&p, 1, MillisLeft(deadline));
    if (rc > 0) return true;
    if (rc == 0) return false;
    if (errno != EINTR) return absl::InternalError(absl::StrCat("poll: ", Errno()));
  }
}

}  // namespace

std::string EncodeMessage(Kind kind, std::string_view payload) {
  std::string out(kHeaderBytes, '\0');
  const uint32_t fields[3] = {kMagic, static_cast<uint32_t>(kind),
                              static_cast<uint32_t>(payload.size())};
  std::memcpy(out.data(), fields, kHeaderBytes);
  out.append(payload);
  return out;
}

absl::StatusOr<Header> DecodeHeader(const char* bytes) {
  uint32_t fields[3];
  std::memcpy(fields, bytes, kHeaderBytes);
  if (fields[0] != kMagic) {
    return absl::InvalidArgumentError(absl::StrCat("not a store message (magic 0x",
                                                   absl::Hex(fields[0]), "; expected 0x",
                                                   absl::Hex(kMagic), ")"));
  }
  const uint32_t kind = fields[1];
  const bool known =
      (kind >= static_cast<uint32_t>(Kind::kSet) && kind <= static_cast<uint32_t>(Kind::kWait)) ||
      (kind >= static_cast<uint32_t>(Kind::kOk) && kind <= static_cast<uint32_t>(Kind::kError));
  if (!known) return absl::InvalidArgumentError(absl::StrCat("unknown message kind ", kind));
  if (fields[2] > kMaxPayloadBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("message of ", fields[2], " bytes; at most ", kMaxPayloadBytes));
  }
  return Header{static_cast<Kind>(kind), fields[2]};
}

void PayloadWriter::U32(uint32_t v) { out_.append(reinterpret_cast<const char*>(&v), sizeof(v)); }
void PayloadWriter::U64(uint64_t v) { out_.append(reinterpret_cast<const char*>(&v), sizeof(v)); }
void PayloadWriter::Str(std::string_view s) {
  U32(static_cast<uint32_t>(s.size()));
  out_.append(s);
}

bool PayloadReader::U32(uint32_t* v) {
  if (rest_.size() < sizeof(*v)) return false;
  std::memcpy(v, rest_.data(), sizeof(*v));
  rest_.remove_prefix(sizeof(*v));
  return true;
}
bool PayloadReader::U64(uint64_t* v) {
  if (rest_.size() < sizeof(*v)) return false;
  std::memcpy(v, rest_.data(), sizeof(*v));
  rest_.remove_prefix(sizeof(*v));
  return true;
}
bool PayloadReader::Str(std::string* s) {
  uint32_t n = 0;
  if (rest_.size() < sizeof(n)) return false;
  std::memcpy(&n, rest_.data(), sizeof(n));
  if (rest_.size() - sizeof(n) < n) return false;
  s->assign(rest_.data() + sizeof(n), n);
  rest_.remove_prefix(sizeof(n) + n);
  return true;
}

absl::StatusOr<int> Listen(const std::string& host, int port, int* bound_port) {
  auto addrs = Resolve(host, port, /*passive=*/true);
  if (!addrs.ok()) return addrs.status();
  std::string last_error = "no address";
  for (addrinfo* a = addrs->get(); a != nullptr; a = a->ai_next) {
    int fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) {
      last_error = Errno();
      continue;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, a->ai_addr, a->ai_addrlen) != 0 || listen(fd, SOMAXCONN) != 0 ||
        !SetNonBlocking(fd, true).ok()) {
      last_error = Errno();
      close(fd);
      continue;
    }
    sockaddr_storage bound{};
    socklen_t len = sizeof(bound);
    getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &len);
    *bound_port =
        ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                                          : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
    return fd;
  }
  return absl::UnavailableError(absl::StrCat("cannot listen on ", host, ":", port, ": ", last_error,
                                             " (hint: is the port in use?)"));
}

absl::StatusOr<int> ConnectOnce(const std::string& host, int port, Deadline deadline) {
  auto addrs = Resolve(host, port, /*passive=*/false);
  if (!addrs.ok()) return addrs.status();
  std::string last_error = "no address";
  for (addrinfo* a = addrs->get(); a != nullptr; a = a->ai_next) {
    int fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, a->ai_protocol);
    if (fd < 0) {
      last_error = Errno();
      continue;
    }
    bool connected = connect(fd, a->ai_addr, a->ai_addrlen) == 0;
    if (!connected && errno == EINPROGRESS) {
      auto writable = PollUntil(fd, POLLOUT, deadline);
      int error = 0;
      socklen_t len = sizeof(error);
      if (writable.ok() && *writable && getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len) == 0) {
        connected = error == 0;
        errno = error;
      } else if (writable.ok() && !*writable) {
        errno = ETIMEDOUT;
      }
    }
    if (connected && SetNonBlocking(fd, false).ok()) {
      int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
      return fd;
    }
    last_error = Errno();
    close(fd);
  }
  return absl::UnavailableError(
      absl::StrCat("cannot connect to ", host, ":", port, ": ", last_error));
}

absl::Status SendAll(int fd, std::string_view bytes, Deadline deadline) {
  while (!bytes.empty()) {
    FLEET_ASSIGN_OR_RETURN(bool ready, PollUntil(fd, POLLOUT, deadline));
    if (!ready) return absl::DeadlineExceededError("send timed out");
    ssize_t n = send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) continue;
      return absl::UnavailableError(absl::StrCat("send: ", Errno()));
    }
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

absl::Status RecvExact(int fd, char* out, size_t n, Deadline deadline) {
  while (n > 0) {
    FLEET_ASSIGN_OR_RETURN(bool ready, PollUntil(fd, POLLIN, deadline));
    if (!ready) return absl::DeadlineExceededError("no answer before the deadline");
    ssize_t got = recv(fd, out, n, MSG_DONTWAIT);
    if (got == 0) return absl::UnavailableError("connection closed by the server");
    if (got < 0) {
      if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) continue;
      return absl::UnavailableError(absl::StrCat("recv: ", Errno()));
    }
    out += got;
    n -= static_cast<size_t>(got);
  }
  return absl::OkStatus();
}

}  // namespace fleet::store_wire
