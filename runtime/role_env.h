// Helpers the role makers share (runtime/role_maker.h): reading variables with errors that name
// the variable, its value and the maker, and the checks every role passes. Internal to runtime/.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "runtime/role_maker.h"

namespace fleet {

// Reads variables for one maker. `context` ends every message in parentheses: with context
// "PaddleCloudRoleMaker, TRAINING_ROLE=TRAINER", a bad id reads
//   PADDLE_TRAINER_ID="x": not an integer (PaddleCloudRoleMaker, TRAINING_ROLE=TRAINER)
// Borrows `env`, which must outlive the reader.
class RoleEnvReader {
 public:
  RoleEnvReader(const EnvLookup& env, std::string context)
      : env_(env), context_(std::move(context)) {}

  bool Has(const std::string& name) const { return env_(name).has_value(); }
  std::optional<std::string> Get(const std::string& name) const { return env_(name); }

  // The value; "NAME is not set (context; hint: <hint>)" when absent.
  absl::StatusOr<std::string> Required(const std::string& name, absl::string_view hint) const;
  // The value as an integer in [min, max]; `range_note` says where the bounds come from
  // ("PADDLE_TRAINERS_NUM=2"), and may be empty.
  absl::StatusOr<int> Int(const std::string& name, absl::string_view hint, int min, int max,
                          absl::string_view range_note = "") const;
  // Int when set, `fallback` when not.
  absl::StatusOr<int> IntOr(const std::string& name, int fallback, int min, int max,
                            absl::string_view range_note = "") const;
  // A required comma-separated endpoint list, each entry normalised to "host:port".
  absl::StatusOr<std::vector<std::string>> Endpoints(const std::string& name,
                                                     absl::string_view hint) const;
  // A required single "host:port".
  absl::StatusOr<std::string> Endpoint(const std::string& name, absl::string_view hint) const;

  // INVALID_ARGUMENT "<what> (<context>)".
  absl::Status Error(absl::string_view what) const;
  const std::string& context() const { return context_; }

 private:
  const EnvLookup& env_;
  std::string context_;
};

// The number of entries before `index` in `endpoints` whose host is that of endpoints[index].
int LocalRankAmong(const std::vector<std::string>& endpoints, int index);

// Checks what every maker promises (role_maker.h: RoleMaker::Generate) and fills what follows
// from the rest: the master (first worker endpoint) when not given. Errors end with
// "(<role.maker>)".
absl::StatusOr<Role> FinishRole(Role role);

}  // namespace fleet
