// Fuzzes the collective TCP store's server (runtime/collective/store_server_state.h) without
// sockets: three clients send it arbitrary bytes in arbitrary pieces while a clock moves on.
// Input: records of one control byte c, then
//   c % 4 == 3:  one byte t: the clock moves t × 100 ms;
//   otherwise:   a 2-byte little-endian length n and n bytes, received from client c % 3.
// After each record the server resolves its waits, as its poll loop does. Checked beyond "no
// crash": no wait is left that could be answered; no whole request is left unread; every reply
// stream decodes into well-formed replies, with ERROR only last and only before a hang-up.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "runtime/collective/store_server_state.h"

namespace sw = fleet::store_wire;

namespace {

constexpr int kClients = 3;

[[noreturn]] void Fail(int client, const char* what) {
  std::fprintf(stderr, "store server, client %d: %s\n", client, what);
  std::abort();
}

// A reply's payload is what its kind promises: OK empty or one string (GET's value), NOT_FOUND
// empty, TIMEOUT a non-empty list of missing keys, ERROR a text.
bool WellFormedReply(sw::Kind kind, std::string_view payload) {
  sw::PayloadReader r(payload);
  std::string s;
  switch (kind) {
    case sw::Kind::kOk:
      return payload.empty() || (r.Str(&s) && r.done());
    case sw::Kind::kNotFound:
      return payload.empty();
    case sw::Kind::kTimeout: {
      uint32_t n = 0;
      if (!r.U32(&n) || n == 0) return false;
      for (uint32_t i = 0; i < n; ++i) {
        if (!r.Str(&s)) return false;
      }
      return r.done();
    }
    case sw::Kind::kError:
      return !payload.empty();
    default:
      return false;  // a request kind: the server never sends one
  }
}

void CheckReplies(int client, const sw::Connection& c) {
  std::string_view out = c.out;
  bool error_seen = false;
  while (!out.empty()) {
    if (error_seen) Fail(client, "a reply follows ERROR");
    if (out.size() < sw::kHeaderBytes) Fail(client, "a reply is cut short");
    auto header = sw::DecodeHeader(out.data());
    if (!header.ok()) Fail(client, "a reply has an unreadable header");
    if (out.size() - sw::kHeaderBytes < header->length) Fail(client, "a reply is cut short");
    if (!WellFormedReply(header->kind, out.substr(sw::kHeaderBytes, header->length))) {
      Fail(client, "a reply's payload does not fit its kind");
    }
    error_seen = header->kind == sw::Kind::kError;
    out.remove_prefix(sw::kHeaderBytes + header->length);
  }
  if (error_seen != c.hang_up_after_reply) Fail(client, "ERROR and hang-up disagree");
}

void CheckNothingLeft(sw::StoreServerState& server, sw::SteadyClock::time_point now) {
  for (int i = 0; i < kClients; ++i) {
    const sw::Connection& c = server.connections()[i];
    if (c.wait) {
      if (now >= c.wait->deadline) Fail(i, "a wait outlived its deadline");
      bool all_set = true;
      for (const std::string& key : c.wait->keys) all_set = all_set && server.HasKey(key);
      if (all_set) Fail(i, "a wait whose keys are all set was not answered");
      continue;
    }
    if (c.hang_up_after_reply || c.in.size() < sw::kHeaderBytes) continue;
    auto header = sw::DecodeHeader(c.in.data());
    if (!header.ok() || c.in.size() - sw::kHeaderBytes >= header->length) {
      Fail(i, "a whole request was left unread");
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  sw::StoreServerState server;
  server.connections().resize(kClients);
  auto now = sw::SteadyClock::time_point{} + std::chrono::hours(1);
  size_t at = 0;
  while (at < size) {
    const uint8_t control = data[at++];
    if (control % 4 == 3) {
      if (at >= size) break;
      now += std::chrono::milliseconds(100) * data[at++];
    } else {
      if (size - at < 2) break;
      size_t n = data[at] | (size_t{data[at + 1]} << 8);
      at += 2;
      if (n > size - at) n = size - at;
      server.Receive(server.connections()[control % kClients],
                     std::string_view(reinterpret_cast<const char*>(data + at), n), now);
      at += n;
    }
    server.ResolveWaits(now);
    CheckNothingLeft(server, now);
  }
  for (int i = 0; i < kClients; ++i) CheckReplies(i, server.connections()[i]);
  return 0;
}
