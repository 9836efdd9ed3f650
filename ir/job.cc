// Job: program names, their roles, and the checks every job passes (ir/job.h).
#include "ir/job.h"

#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace fleet {

std::string ServerProgramName(int server) { return absl::StrCat(kServerProgramPrefix, server); }

std::string StartupProgramNameOf(std::string_view program) {
  if (program == kMainProgram) return kStartupProgram;
  return std::string(program) + kStartupSuffix;
}

ProgramRole ProgramRoleOf(std::string_view program) {
  absl::string_view name(program.data(), program.size());
  if (name == kMainProgram) return ProgramRole::kMain;
  if (name == kStartupProgram || absl::EndsWith(name, kStartupSuffix)) return ProgramRole::kStartup;
  if (absl::ConsumePrefix(&name, kServerProgramPrefix) && !name.empty() &&
      name.find_first_not_of("0123456789") == absl::string_view::npos) {
    return ProgramRole::kServer;
  }
  return ProgramRole::kOther;
}

std::string_view ProgramRoleName(ProgramRole role) {
  switch (role) {
    case ProgramRole::kMain:
      return "main";
    case ProgramRole::kStartup:
      return "startup";
    case ProgramRole::kServer:
      return "server";
    case ProgramRole::kOther:
      break;
  }
  return "other";
}

absl::Status ValidateProgramName(std::string_view name) {
  constexpr size_t kMaxLength = 100;
  bool ok = !name.empty() && name.size() <= kMaxLength && name[0] != '.';
  for (char c : name) {
    ok = ok && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                c == '_' || c == '.' || c == '-');
  }
  if (ok) return absl::OkStatus();
  std::string shown;
  for (char c : name.substr(0, kMaxLength)) {
    shown += (c >= 0x20 && c < 0x7f) ? std::string(1, c) : absl::StrCat("\\x", absl::Hex(c & 0xff));
  }
  return absl::InvalidArgumentError(
      absl::StrCat("bad program name \"", shown,
                   "\"; expected 1 to 100 characters of [A-Za-z0-9_.-], not starting with '.'"));
}

Job::Job(Program main) { programs.emplace(kMainProgram, std::move(main)); }

Program* Job::Find(std::string_view name) {
  auto it = programs.find(name);
  return it == programs.end() ? nullptr : &it->second;
}

const Program* Job::Find(std::string_view name) const {
  auto it = programs.find(name);
  return it == programs.end() ? nullptr : &it->second;
}

absl::Status ValidateJob(const Job& job, std::string_view where) {
  const std::string prefix = where.empty() ? std::string("job") : std::string(where);
  for (const auto& [name, program] : job.programs) {
    absl::Status valid = ValidateProgramName(name);
    if (!valid.ok()) return absl::InvalidArgumentError(absl::StrCat(prefix, ": ", valid.message()));
  }
  if (job.FindMain() == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(prefix, ": the job has no program \"",
                                                   kMainProgram,
                                                   "\" (every job needs its main program)"));
  }
  return absl::OkStatus();
}

}  // namespace fleet
