#include "runtime/collective/gloo_errors.h"

#include <gloo/common/error.h>

#include <algorithm>
#include <cctype>
#include <new>

#include "absl/strings/str_cat.h"
#include "runtime/collective/timeout.h"

namespace fleet {
namespace {

// Gloo prefixes its messages with the source line that threw ("[gloo/.../pair.cc:589] "); the
// reader of ours needs what happened, not where in Gloo.
std::string WithoutSourceLine(std::string message) {
  if (!message.empty() && message.front() == '[') {
    size_t end = message.find("] ");
    if (end != std::string::npos) message.erase(0, end + 2);
  }
  return message;
}

bool Mentions(const std::string& lowercase_message, const char* word) {
  return lowercase_message.find(word) != std::string::npos;
}

// A short reason for a broken connection, from Gloo's text (lowercased).
const char* Reason(const std::string& lowercase_message) {
  if (Mentions(lowercase_message, "reset")) return "connection reset";
  if (Mentions(lowercase_message, "refused")) return "connection refused";
  if (Mentions(lowercase_message, "closed") || Mentions(lowercase_message, "broken pipe")) {
    return "connection closed";
  }
  return "I/O error";
}

std::string RankText(int rank, const char* otherwise) {
  return rank >= 0 ? absl::StrCat("rank ", rank) : std::string(otherwise);
}

}  // namespace

int PeerAddresses::RankIn(const std::string& message) const {
  for (size_t r = 0; r < addresses_.size(); ++r) {
    for (const std::string& address : addresses_[r]) {
      // "[127.0.0.1]:4123" must not match inside "[127.0.0.1]:41234".
      const size_t at = message.find(address);
      const size_t end = at + address.size();
      if (at != std::string::npos && (end == message.size() || !std::isdigit(message[end]))) {
        return static_cast<int>(r);
      }
    }
  }
  if (addresses_.size() == 2) return 1 - self_;
  return -1;
}

absl::Status GlooFailure(const std::string& op, const std::exception& e, const PeerAddresses& peers,
                         std::chrono::milliseconds elapsed, std::chrono::milliseconds timeout) {
  if (dynamic_cast<const std::bad_alloc*>(&e) != nullptr) {
    return absl::ResourceExhaustedError(absl::StrCat(op, ": out of memory"));
  }
  if (dynamic_cast<const gloo::Exception*>(&e) == nullptr) {
    return absl::InternalError(absl::StrCat(op, ": unexpected error: ", e.what()));
  }
  const std::string what = WithoutSourceLine(e.what());
  std::string lower = what;
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  const int peer = peers.RankIn(what);
  if (Mentions(lower, "timed out") || Mentions(lower, "timeout")) {
    return absl::DeadlineExceededError(absl::StrCat(
        op, ": timed out after ", DurationText(timeout), " waiting for ",
        RankText(peer, "the other ranks"), ": ", what,
        " (hint: every rank must issue the same collectives in the same order; a rank may also be "
        "stuck, or slower than GlooCommunicatorOptions::timeout allows)"));
  }
  return absl::UnavailableError(
      absl::StrCat(op, ": ", RankText(peer, "a peer"), " unreachable (", Reason(lower), ") after ",
                   DurationText(elapsed), ": ", what, " (hint: the process of ",
                   RankText(peer, "that rank"), " may have exited; its log says why)"));
}

}  // namespace fleet
