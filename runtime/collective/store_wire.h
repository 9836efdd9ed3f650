// The TCP store's messages, and blocking socket I/O bounded by deadlines. Internal to
// runtime/collective (tcp_store.cc, tcp_store_server.cc).
//
// Every message, either way, is a 12-byte header (magic "FLST", kind, payload length; host byte
// order, as both ends run on one kind of host) and a payload of at most kMaxPayloadBytes:
//
//   request  SET   str key, str value          reply OK
//            GET   str key                     reply OK (str value) | NOT_FOUND
//            WAIT  u64 timeout_ms, u32 n, n × str key
//                                              reply OK | TIMEOUT (u32 n, n × str missing key)
//   any request the server cannot read         reply ERROR (text), then the server hangs up
//
// where str is a u32 length and that many bytes.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace fleet::store_wire {

using Deadline = std::chrono::steady_clock::time_point;

inline constexpr uint32_t kMagic = 0x54534c46;  // "FLST" read as little-endian bytes
inline constexpr size_t kHeaderBytes = 12;
inline constexpr uint32_t kMaxPayloadBytes = 16u << 20;

enum class Kind : uint32_t {
  kSet = 1,
  kGet = 2,
  kWait = 3,
  kOk = 100,
  kNotFound = 101,
  kTimeout = 102,
  kError = 103,
};

struct Header {
  Kind kind;
  uint32_t length;  // payload bytes
};

// Header and payload, ready to send.
std::string EncodeMessage(Kind kind, std::string_view payload);
// Reads a header from kHeaderBytes bytes: INVALID_ARGUMENT for a wrong magic, an unknown kind or a
// payload over kMaxPayloadBytes.
absl::StatusOr<Header> DecodeHeader(const char* bytes);

// Builds a payload.
class PayloadWriter {
 public:
  void U32(uint32_t v);
  void U64(uint64_t v);
  void Str(std::string_view s);
  std::string Take() { return std::move(out_); }

 private:
  std::string out_;
};

// Reads a payload; every read returns false (and reads nothing) when the bytes run out.
class PayloadReader {
 public:
  explicit PayloadReader(std::string_view payload) : rest_(payload) {}
  bool U32(uint32_t* v);
  bool U64(uint64_t* v);
  bool Str(std::string* s);
  bool done() const { return rest_.empty(); }

 private:
  std::string_view rest_;
};

// A listening socket on host:port (port 0: any free port), non-blocking, with its bound port.
absl::StatusOr<int> Listen(const std::string& host, int port, int* bound_port);
// One connection attempt to host:port, abandoned at `deadline`; the socket is blocking, with
// TCP_NODELAY. UNAVAILABLE when nobody listens there (yet).
absl::StatusOr<int> ConnectOnce(const std::string& host, int port, Deadline deadline);
// Sends all of `bytes` (MSG_NOSIGNAL: a closed peer is an error, not SIGPIPE).
absl::Status SendAll(int fd, std::string_view bytes, Deadline deadline);
// Receives exactly `n` bytes. UNAVAILABLE when the peer closes first, DEADLINE_EXCEEDED when
// `deadline` passes first.
absl::Status RecvExact(int fd, char* out, size_t n, Deadline deadline);

}  // namespace fleet::store_wire
