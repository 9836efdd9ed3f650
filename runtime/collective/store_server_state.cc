#include "runtime/collective/store_server_state.h"

#include <algorithm>
#include <cstdint>

#include "absl/strings/str_cat.h"
#include "runtime/collective/timeout.h"

namespace fleet::store_wire {
namespace {

// The longest WAIT the server honours, whatever a client asks for.
constexpr std::chrono::hours kMaxWait{24};

}  // namespace

void StoreServerState::Reply(Connection& c, Kind kind, std::string_view payload) {
  c.out += EncodeMessage(kind, payload);
}

void StoreServerState::Reject(Connection& c, std::string_view why) {
  Reply(c, Kind::kError, why);
  c.hang_up_after_reply = true;
  c.in.clear();
}

std::vector<std::string> StoreServerState::Missing(const std::vector<std::string>& wanted) const {
  std::vector<std::string> missing;
  for (const std::string& k : wanted) {
    if (keys_.find(k) == keys_.end()) missing.push_back(k);
  }
  return missing;
}

void StoreServerState::Handle(Connection& c, Kind kind, std::string_view payload,
                              SteadyClock::time_point now) {
  PayloadReader r(payload);
  switch (kind) {
    case Kind::kSet: {
      std::string key, value;
      if (!r.Str(&key) || !r.Str(&value) || !r.done()) return Reject(c, "malformed SET request");
      keys_[key] = std::move(value);
      return Reply(c, Kind::kOk);
    }
    case Kind::kGet: {
      std::string key;
      if (!r.Str(&key) || !r.done()) return Reject(c, "malformed GET request");
      auto it = keys_.find(key);
      if (it == keys_.end()) return Reply(c, Kind::kNotFound);
      PayloadWriter w;
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
      wait.deadline = now + timeout;
      c.wait = std::move(wait);
      return;
    }
    default:
      return Reject(c, absl::StrCat("unexpected message kind ", static_cast<uint32_t>(kind),
                                    " from a client"));
  }
}

void StoreServerState::HandleInput(Connection& c, SteadyClock::time_point now) {
  while (!c.wait && !c.hang_up_after_reply && c.in.size() >= kHeaderBytes) {
    auto header = DecodeHeader(c.in.data());
    if (!header.ok()) return Reject(c, std::string(header.status().message()));
    const size_t total = kHeaderBytes + header->length;
    if (c.in.size() < total) return;
    Handle(c, header->kind, std::string_view(c.in).substr(kHeaderBytes, header->length), now);
    c.in.erase(0, total);
  }
}

void StoreServerState::Receive(Connection& c, std::string_view bytes, SteadyClock::time_point now) {
  if (c.hang_up_after_reply) return;
  c.in.append(bytes);
  HandleInput(c, now);
}

void StoreServerState::ResolveWaits(SteadyClock::time_point now) {
  // Answering a WAIT lets the requests it held back run, and a SET among them may complete a
  // WAIT already passed over: go round until a pass answers nothing.
  for (bool answered = true; answered;) {
    answered = false;
    for (Connection& c : connections_) {
      if (!c.wait) continue;
      std::vector<std::string> missing = Missing(c.wait->keys);
      if (missing.empty()) {
        Reply(c, Kind::kOk);
      } else if (now >= c.wait->deadline) {
        PayloadWriter w;
        w.U32(static_cast<uint32_t>(missing.size()));
        for (const std::string& k : missing) w.Str(k);
        Reply(c, Kind::kTimeout, w.Take());
      } else {
        continue;
      }
      c.wait.reset();
      answered = true;
      HandleInput(c, now);
    }
  }
}

int StoreServerState::PollTimeoutMillis() const {
  std::optional<SteadyClock::time_point> nearest;
  for (const Connection& c : connections_) {
    if (c.wait && (!nearest || c.wait->deadline < *nearest)) nearest = c.wait->deadline;
  }
  return nearest ? MillisLeft(*nearest) : -1;
}

}  // namespace fleet::store_wire
