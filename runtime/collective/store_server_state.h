// What the TCP store's server knows and how it answers, apart from sockets: the keys, and for each
// client its unread bytes, its unsent replies and its pending WAIT (runtime/collective/store_wire.h
// has the protocol). tcp_store_server.cc feeds it what poll() delivers and sends what it queues;
// the fuzz target tests/fuzz/store_server_fuzz.cc feeds it bytes directly.
//
// Not thread-safe: the server touches it from its one serving thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/collective/store_wire.h"

namespace fleet::store_wire {

using SteadyClock = std::chrono::steady_clock;

// A WAIT that found keys missing: answered when they are all set, or at `deadline`.
struct PendingWait {
  std::vector<std::string> keys;
  SteadyClock::time_point deadline;
};

// One client connection's side of the conversation.
struct Connection {
  int fd = -1;
  std::string in;                    // bytes received, not yet handled
  std::string out;                   // reply bytes not yet sent
  bool hang_up_after_reply = false;  // it sent something unreadable: ERROR, then hang up
  bool closed = false;
  std::optional<PendingWait> wait;  // no further request is read while one waits
};

class StoreServerState {
 public:
  // Appends `bytes` received from `c` and answers every whole request in them, in order, until
  // one has to wait. A request the server cannot read is answered with ERROR, and everything `c`
  // sends after it is ignored. WAIT deadlines count from `now`.
  void Receive(Connection& c, std::string_view bytes, SteadyClock::time_point now);

  // Answers each pending WAIT whose keys are all set (OK) or whose deadline is not after `now`
  // (TIMEOUT, naming the missing keys), then the requests that WAIT held back.
  void ResolveWaits(SteadyClock::time_point now);

  // The poll() timeout in milliseconds until the nearest WAIT deadline; -1 when none waits.
  int PollTimeoutMillis() const;

  std::vector<Connection>& connections() { return connections_; }
  bool HasKey(std::string_view key) const { return keys_.find(key) != keys_.end(); }

 private:
  void Reply(Connection& c, Kind kind, std::string_view payload = {});
  void Reject(Connection& c, std::string_view why);
  std::vector<std::string> Missing(const std::vector<std::string>& wanted) const;
  void Handle(Connection& c, Kind kind, std::string_view payload, SteadyClock::time_point now);
  void HandleInput(Connection& c, SteadyClock::time_point now);

  std::map<std::string, std::string, std::less<>> keys_;
  std::vector<Connection> connections_;
};

}  // namespace fleet::store_wire
