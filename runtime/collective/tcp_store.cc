// TcpStore: the client side of the TCP store (store_wire.h has the protocol), and the serving
// rank's server (tcp_store_server.h).
#include <unistd.h>

#include <algorithm>
#include <mutex>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "ir/status_macros.h"
#include "runtime/collective/store.h"
#include "runtime/collective/store_wire.h"
#include "runtime/collective/tcp_store_server.h"
#include "runtime/collective/timeout.h"

namespace fleet {

using store_wire::Kind;
using SteadyClock = std::chrono::steady_clock;

namespace {

// How long a SET or GET may take before the server counts as unresponsive.
constexpr std::chrono::seconds kRequestTimeout{30};
// How much longer than its own timeout a WAIT's reply may take to arrive.
constexpr std::chrono::seconds kWaitReplyGrace{5};

// Connects to host:port, trying again until `timeout` passes: the serving rank may start after
// the others. Between tries it sleeps, doubling the pause up to half a second; there is nothing
// to block on while nobody listens.
absl::StatusOr<int> ConnectWithRetry(const std::string& host, int port,
                                     std::chrono::milliseconds timeout) {
  const auto deadline = SteadyClock::now() + timeout;
  std::chrono::milliseconds pause{10};
  for (;;) {
    absl::StatusOr<int> fd = store_wire::ConnectOnce(host, port, deadline);
    if (fd.ok() || absl::IsInvalidArgument(fd.status())) return fd;
    const auto now = SteadyClock::now();
    if (now >= deadline) {
      return absl::DeadlineExceededError(absl::StrCat(
          "could not reach the store at ", host, ":", port, " within ", DurationText(timeout), ": ",
          fd.status().message(),
          " (hint: rank 0 serves it; check that it runs and that every rank was given the same "
          "address)"));
    }
    std::this_thread::sleep_for(std::min<SteadyClock::duration>(pause, deadline - now));
    pause = std::min(pause * 2, std::chrono::milliseconds(500));
  }
}

}  // namespace

// One connection to the server, re-established after an I/O error. Requests are serialised.
class TcpStore::Client {
 public:
  Client(std::string host, int port, std::chrono::milliseconds connect_timeout, int fd)
      : host_(std::move(host)), port_(port), connect_timeout_(connect_timeout), fd_(fd) {}
  ~Client() {
    if (fd_ >= 0) close(fd_);
  }

  struct Reply {
    Kind kind;
    std::string payload;
  };

  // Sends one request and reads its reply, which must come before `reply_deadline`.
  absl::StatusOr<Reply> Call(Kind kind, std::string_view payload,
                             SteadyClock::time_point reply_deadline) {
    std::lock_guard<std::mutex> lock(mu_);
    if (fd_ < 0) {
      absl::StatusOr<int> fd = ConnectWithRetry(host_, port_, connect_timeout_);
      if (!fd.ok()) return Failed(fd.status());
      fd_ = *fd;
    }
    absl::Status sent =
        store_wire::SendAll(fd_, store_wire::EncodeMessage(kind, payload), reply_deadline);
    if (!sent.ok()) return Failed(sent);
    char header_bytes[store_wire::kHeaderBytes];
    absl::Status got =
        store_wire::RecvExact(fd_, header_bytes, sizeof(header_bytes), reply_deadline);
    if (!got.ok()) return Failed(got);
    absl::StatusOr<store_wire::Header> header = store_wire::DecodeHeader(header_bytes);
    if (!header.ok()) return Failed(header.status());
    Reply reply{header->kind, std::string(header->length, '\0')};
    got = store_wire::RecvExact(fd_, reply.payload.data(), reply.payload.size(), reply_deadline);
    if (!got.ok()) return Failed(got);
    if (reply.kind == Kind::kError) {
      return Failed(
          absl::InternalError(absl::StrCat("the server refused the request: ", reply.payload)));
    }
    return reply;
  }

  std::string Where() const { return absl::StrCat(host_, ":", port_); }

 private:
  // Drops the connection (the next call reconnects) and names the store in the error.
  absl::Status Failed(const absl::Status& status) {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
    return absl::Status(status.code(), absl::StrCat("store ", Where(), ": ", status.message()));
  }

  const std::string host_;
  const int port_;
  const std::chrono::milliseconds connect_timeout_;
  std::mutex mu_;
  int fd_;
};

TcpStore::TcpStore(std::string host, int port, std::unique_ptr<TcpStoreServer> server,
                   std::unique_ptr<Client> client)
    : host_(std::move(host)), port_(port), server_(std::move(server)), client_(std::move(client)) {}

TcpStore::~TcpStore() {
  client_.reset();  // close the connection before the server goes
  server_.reset();
}

absl::StatusOr<std::unique_ptr<TcpStore>> TcpStore::Serve(const std::string& host, int port) {
  FLEET_ASSIGN_OR_RETURN(std::unique_ptr<TcpStoreServer> server, TcpStoreServer::Start(host, port));
  const int bound = server->port();
  FLEET_ASSIGN_OR_RETURN(int fd, ConnectWithRetry(host, bound, kRequestTimeout));
  auto client = std::make_unique<Client>(host, bound, kRequestTimeout, fd);
  return std::unique_ptr<TcpStore>(new TcpStore(host, bound, std::move(server), std::move(client)));
}

absl::StatusOr<std::unique_ptr<TcpStore>> TcpStore::Connect(const std::string& host, int port,
                                                            std::chrono::milliseconds timeout) {
  FLEET_ASSIGN_OR_RETURN(int fd, ConnectWithRetry(host, port, timeout));
  auto client = std::make_unique<Client>(host, port, timeout, fd);
  return std::unique_ptr<TcpStore>(new TcpStore(host, port, nullptr, std::move(client)));
}

absl::Status TcpStore::Set(std::string_view key, std::string_view value) {
  store_wire::PayloadWriter w;
  w.Str(key);
  w.Str(value);
  std::string payload = w.Take();
  if (payload.size() > store_wire::kMaxPayloadBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("store ", Describe(), ": value of '", std::string(key), "' is ", value.size(),
                     " bytes; at most ", store_wire::kMaxPayloadBytes, " fit"));
  }
  FLEET_ASSIGN_OR_RETURN(Client::Reply reply,
                         client_->Call(Kind::kSet, payload, SteadyClock::now() + kRequestTimeout));
  if (reply.kind != Kind::kOk) {
    return absl::InternalError(absl::StrCat("store ", Describe(), ": unexpected reply to SET"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> TcpStore::Get(std::string_view key) {
  store_wire::PayloadWriter w;
  w.Str(key);
  FLEET_ASSIGN_OR_RETURN(Client::Reply reply,
                         client_->Call(Kind::kGet, w.Take(), SteadyClock::now() + kRequestTimeout));
  if (reply.kind == Kind::kNotFound) {
    return absl::NotFoundError(
        absl::StrCat("store ", Describe(), ": key '", std::string(key), "' is not set"));
  }
  store_wire::PayloadReader r(reply.payload);
  std::string value;
  if (reply.kind != Kind::kOk || !r.Str(&value) || !r.done()) {
    return absl::InternalError(absl::StrCat("store ", Describe(), ": malformed reply to GET"));
  }
  return value;
}

absl::Status TcpStore::Wait(const std::vector<std::string>& keys, std::chrono::milliseconds timeout,
                            std::vector<std::string>* missing) {
  store_wire::PayloadWriter w;
  w.U64(static_cast<uint64_t>(std::max<int64_t>(0, timeout.count())));
  w.U32(static_cast<uint32_t>(keys.size()));
  for (const std::string& k : keys) w.Str(k);
  FLEET_ASSIGN_OR_RETURN(
      Client::Reply reply,
      client_->Call(Kind::kWait, w.Take(), SteadyClock::now() + timeout + kWaitReplyGrace));
  if (reply.kind == Kind::kOk) return absl::OkStatus();
  store_wire::PayloadReader r(reply.payload);
  uint32_t n = 0;
  std::vector<std::string> absent;
  bool well_formed = reply.kind == Kind::kTimeout && r.U32(&n);
  for (uint32_t i = 0; well_formed && i < n; ++i) {
    std::string key;
    well_formed = r.Str(&key);
    absent.push_back(std::move(key));
  }
  if (!well_formed || !r.done()) {
    return absl::InternalError(absl::StrCat("store ", Describe(), ": malformed reply to WAIT"));
  }
  std::string message =
      absl::StrCat("store ", Describe(), ": keys not set after ", DurationText(timeout), ": '",
                   absl::StrJoin(absent, "', '"), "'");
  if (missing != nullptr) *missing = std::move(absent);
  return absl::DeadlineExceededError(message);
}

std::string TcpStore::Describe() const { return absl::StrCat(host_, ":", port_); }

}  // namespace fleet
