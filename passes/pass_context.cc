// PassContext: typed option getters, the strategy, and the diagnostics passes leave.
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "passes/pass.h"
#include "passes/strategy.pb.h"

namespace fleet {

std::string PassDiagnostic::ToString() const {
  std::string out = pass.empty() ? std::string() : absl::StrCat(pass, ": ");
  if (!where.empty()) absl::StrAppend(&out, where, ": ");
  absl::StrAppend(&out, message);
  return out;
}

void PassContext::SetOption(std::string key, std::string value) {
  options_[std::move(key)] = std::move(value);
}

bool PassContext::HasOption(std::string_view key) const {
  return options_.find(key) != options_.end();
}

std::string PassContext::GetString(std::string_view key, std::string_view default_value) const {
  auto it = options_.find(key);
  return it == options_.end() ? std::string(default_value) : it->second;
}

namespace {
absl::Status BadOption(std::string_view key, const std::string& value, const char* expected) {
  return absl::InvalidArgumentError(
      absl::StrCat("pass option '", std::string(key), "' is '", value, "'; expected ", expected));
}
}  // namespace

absl::StatusOr<int64_t> PassContext::GetInt(std::string_view key, int64_t default_value) const {
  auto it = options_.find(key);
  if (it == options_.end()) return default_value;
  int64_t value = 0;
  if (!absl::SimpleAtoi(it->second, &value)) return BadOption(key, it->second, "an integer");
  return value;
}

absl::StatusOr<double> PassContext::GetFloat(std::string_view key, double default_value) const {
  auto it = options_.find(key);
  if (it == options_.end()) return default_value;
  double value = 0;
  if (!absl::SimpleAtod(it->second, &value)) return BadOption(key, it->second, "a number");
  return value;
}

absl::StatusOr<bool> PassContext::GetBool(std::string_view key, bool default_value) const {
  auto it = options_.find(key);
  if (it == options_.end()) return default_value;
  std::string v = absl::AsciiStrToLower(it->second);
  if (v == "true" || v == "1" || v == "yes" || v == "on") return true;
  if (v == "false" || v == "0" || v == "no" || v == "off") return false;
  return BadOption(key, it->second, "true or false");
}

void PassContext::set_strategy(const proto::DistributedStrategy& strategy) {
  strategy_ = std::make_shared<const proto::DistributedStrategy>(strategy);
}

void PassContext::Skip(const Op& op, std::string message) {
  diagnostics_.push_back({current_pass_, op.Describe(), std::move(message)});
}

void PassContext::Note(std::string message) {
  diagnostics_.push_back({current_pass_, "", std::move(message)});
}

std::vector<PassDiagnostic> PassContext::DiagnosticsOf(std::string_view pass) const {
  std::vector<PassDiagnostic> out;
  for (const PassDiagnostic& d : diagnostics_) {
    if (d.pass == pass) out.push_back(d);
  }
  return out;
}

}  // namespace fleet
