// GlooStore: a fleet Store seen through Gloo's rendezvous::Store interface, so that Gloo's
// full-mesh connect publishes and finds the ranks' addresses in it. Internal to
// runtime/collective (gloo_communicator.cc).
//
// Gloo's interface reports errors by throwing: each failing call records its Status (error())
// and throws a gloo::Exception carrying the same text, which the caller catches and replaces by
// that Status.
//
// Thread safety: as the wrapped Store; error() is for the thread that made the calls.
#pragma once

#include <gloo/rendezvous/store.h>

#include <chrono>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "runtime/collective/store.h"

namespace fleet {

class GlooStore final : public gloo::rendezvous::Store {
 public:
  // Keys are stored as "<prefix>/<key>"; get() waits up to `get_timeout` for its key.
  GlooStore(fleet::Store& store, std::string prefix, std::chrono::milliseconds get_timeout)
      : store_(store), prefix_(std::move(prefix)), get_timeout_(get_timeout) {}

  void set(const std::string& key, const std::vector<char>& data) override;
  std::vector<char> get(const std::string& key) override;
  void wait(const std::vector<std::string>& keys) override;
  void wait(const std::vector<std::string>& keys,
            const std::chrono::milliseconds& timeout) override;

  // The first error a call met (OK when none did).
  const absl::Status& error() const { return error_; }

 private:
  // Records `status` (the first one is kept) and throws it as a gloo::Exception.
  [[noreturn]] void Throw(absl::Status status);

  fleet::Store& store_;
  const std::string prefix_;
  const std::chrono::milliseconds get_timeout_;
  absl::Status error_;
};

}  // namespace fleet
