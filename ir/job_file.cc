// Job folders: the manifest, writing programs then manifest, and reading with every check
// (ir/job_file.h).
#include "ir/job_file.h"

#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/text_format.h"
#include "ir/proto_text.h"
#include "ir/serialize.h"
#include "ir/status_macros.h"
#include "ir/text_format.h"
#include "job.pb.h"  // generated from ir/job.proto

namespace fleet {
namespace {

namespace fs = std::filesystem;
using proto::JobManifest;
using proto::JobProgram;

static_assert(static_cast<int>(ProgramRole::kMain) == JobProgram::MAIN &&
                  static_cast<int>(ProgramRole::kStartup) == JobProgram::STARTUP &&
                  static_cast<int>(ProgramRole::kServer) == JobProgram::SERVER &&
                  static_cast<int>(ProgramRole::kOther) == JobProgram::OTHER,
              "ProgramRole (ir/job.h) must match JobProgram.Role (ir/job.proto)");

std::string PathIn(const std::string& dir, std::string_view file) {
  return (fs::path(dir) / std::string(file)).string();
}

absl::StatusOr<std::string> ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot open file"));
  std::ostringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) return absl::UnavailableError(absl::StrCat(path, ": cannot read file"));
  return buffer.str();
}

absl::Status RemoveIfPresent(const std::string& path) {
  std::error_code ec;
  fs::remove(path, ec);
  if (ec) return absl::UnavailableError(absl::StrCat(path, ": cannot remove: ", ec.message()));
  return absl::OkStatus();
}

// The manifest's entries checked against each other and the naming rules; `where(i, field)`
// locates field `field` of entry i for messages.
absl::Status CheckManifest(const JobManifest& manifest, const std::string& path,
                           const std::function<std::string(int, const char*)>& where) {
  if (manifest.format() != kJobFormat) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": error: format \"", manifest.format(),
                                                   "\"; expected \"", kJobFormat, "\""));
  }
  if (manifest.version() != kJobManifestVersion) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": error: version ", manifest.version(),
                                                   "; this Fleet reads version ",
                                                   kJobManifestVersion));
  }
  std::map<std::string, int> names, files;
  for (int i = 0; i < manifest.programs_size(); ++i) {
    const JobProgram& p = manifest.programs(i);
    absl::Status name_ok = ValidateProgramName(p.name());
    if (!name_ok.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where(i, "name"), ": error: ", name_ok.message()));
    }
    if (auto [it, fresh] = names.emplace(p.name(), i); !fresh) {
      return absl::InvalidArgumentError(
          absl::StrCat(where(i, "name"), ": error: program \"", p.name(), "\" is listed twice"));
    }
    const std::string& file = p.file();
    if (file.empty() || file == "." || file == ".." || file.find('/') != std::string::npos ||
        file.find('\\') != std::string::npos || file.find('\0') != std::string::npos ||
        file == kJobManifestFile) {
      return absl::InvalidArgumentError(
          absl::StrCat(where(i, "file"), ": error: program \"", p.name(), "\" has file \"", file,
                       "\"; expected a file name inside the job folder"));
    }
    if (auto [it, fresh] = files.emplace(file, i); !fresh) {
      return absl::InvalidArgumentError(
          absl::StrCat(where(i, "file"), ": error: file \"", file, "\" holds both program \"",
                       manifest.programs(it->second).name(), "\" and \"", p.name(), "\""));
    }
    const ProgramRole role = ProgramRoleOf(p.name());
    if (static_cast<int>(p.role()) != static_cast<int>(role)) {
      return absl::InvalidArgumentError(
          absl::StrCat(where(i, "role"), ": error: program \"", p.name(), "\" has role ",
                       JobProgram::Role_Name(p.role()), "; its name makes it ",
                       JobProgram::Role_Name(static_cast<JobProgram::Role>(role))));
    }
  }
  return absl::OkStatus();
}

}  // namespace

std::string ProgramFileName(std::string_view program) {
  return std::string(program) + kProgramFileSuffix;
}

absl::Status WriteJobDir(const Job& job, const std::string& dir) {
  FLEET_RETURN_IF_ERROR(ValidateJob(job, dir));
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) {
    return absl::UnavailableError(absl::StrCat(dir, ": cannot create folder: ", ec.message()));
  }
  // Without a manifest the folder does not read as a job until the new one is complete.
  FLEET_RETURN_IF_ERROR(RemoveIfPresent(PathIn(dir, kJobManifestFile)));
  JobManifest manifest;
  manifest.set_format(kJobFormat);
  manifest.set_version(kJobManifestVersion);
  std::set<std::string> files;
  for (const auto& [name, program] : job.programs) {
    JobProgram* entry = manifest.add_programs();
    entry->set_name(name);
    entry->set_file(ProgramFileName(name));
    entry->set_role(static_cast<JobProgram::Role>(ProgramRoleOf(name)));
    files.insert(entry->file());
    FLEET_RETURN_IF_ERROR(WriteProgramFile(program, PathIn(dir, entry->file())));
  }
  // Program files of an earlier job written here would make the folder fail to read.
  for (const fs::directory_entry& e : fs::directory_iterator(dir, ec)) {
    std::string file = e.path().filename().string();
    if (absl::EndsWith(file, kProgramFileSuffix) && !files.count(file)) {
      FLEET_RETURN_IF_ERROR(RemoveIfPresent(e.path().string()));
    }
  }
  if (ec) return absl::UnavailableError(absl::StrCat(dir, ": cannot list folder: ", ec.message()));
  std::string text;
  if (!google::protobuf::TextFormat::PrintToString(manifest, &text)) {
    return absl::InternalError(absl::StrCat(dir, ": cannot print the job manifest"));
  }
  return WriteFileAtomically(PathIn(dir, kJobManifestFile), text);
}

absl::StatusOr<Job> ReadJobDir(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    return absl::NotFoundError(absl::StrCat(dir, ": not a job folder (no such folder)"));
  }
  const std::string manifest_path = PathIn(dir, kJobManifestFile);
  if (!fs::exists(manifest_path, ec)) {
    return absl::NotFoundError(
        absl::StrCat(dir, ": not a job folder: it has no ", kJobManifestFile,
                     " (a job being written gets its manifest last; hint: write the job with "
                     "fleet-transpile)"));
  }
  FLEET_ASSIGN_OR_RETURN(std::string text, ReadBytes(manifest_path));
  JobManifest manifest;
  google::protobuf::TextFormat::ParseInfoTree locations;
  FLEET_RETURN_IF_ERROR(ParseProtoText(text, manifest_path, &manifest, &locations));
  auto where = [&](int i, const char* field) {
    const google::protobuf::Descriptor* type = JobManifest::descriptor();
    const google::protobuf::TextFormat::ParseInfoTree* entry =
        locations.GetTreeForNested(type->FindFieldByName("programs"), i);
    if (entry != nullptr) {
      google::protobuf::TextFormat::ParseLocation loc =
          entry->GetLocation(JobProgram::descriptor()->FindFieldByName(field), -1);
      if (loc.line < 0) {
        loc = locations.GetLocation(type->FindFieldByName("programs"), i);
      }
      if (loc.line >= 0) return absl::StrCat(manifest_path, ":", loc.line + 1, ":", loc.column + 1);
    }
    return manifest_path;
  };
  FLEET_RETURN_IF_ERROR(CheckManifest(manifest, manifest_path, where));

  std::set<std::string> listed;
  for (const JobProgram& p : manifest.programs()) listed.insert(p.file());
  for (const fs::directory_entry& e : fs::directory_iterator(dir, ec)) {
    std::string file = e.path().filename().string();
    if (absl::EndsWith(file, kProgramFileSuffix) && !listed.count(file)) {
      return absl::InvalidArgumentError(
          absl::StrCat(e.path().string(), ": program file not listed in ", manifest_path,
                       " (left from another job? remove it or write the job again)"));
    }
  }
  if (ec) return absl::UnavailableError(absl::StrCat(dir, ": cannot list folder: ", ec.message()));

  Job job;
  for (int i = 0; i < manifest.programs_size(); ++i) {
    const JobProgram& p = manifest.programs(i);
    const std::string path = PathIn(dir, p.file());
    if (!fs::is_regular_file(path, ec)) {
      return absl::NotFoundError(absl::StrCat(path, ": missing: ", where(i, "file"),
                                              " lists it for program \"", p.name(), "\""));
    }
    FLEET_ASSIGN_OR_RETURN(std::string bytes, ReadBytes(path));
    FLEET_ASSIGN_OR_RETURN(Program program, ParseProgramFileBytes(bytes, path));
    job.programs.emplace(p.name(), std::move(program));
  }
  FLEET_RETURN_IF_ERROR(ValidateJob(job, manifest_path));
  return job;
}

bool IsProgramText(std::string_view bytes) {
  // The text form starts with its header line, after any blank or `#` comment lines (golden
  // test files start with their RUN lines, job texts with `# program "NAME"`).
  size_t start = bytes.find_first_not_of(" \t\r\n");
  while (start != std::string_view::npos && bytes[start] == '#') {
    size_t eol = bytes.find('\n', start);
    start = eol == std::string_view::npos ? eol : bytes.find_first_not_of(" \t\r\n", eol);
  }
  // A binary file starts with the same magic, encoded as a protobuf field ("\x0a\x0d" and
  // then the magic, which the whitespace skip above steps over), but followed by a field tag:
  // the text header is followed by whitespace.
  constexpr size_t kMagicLen = sizeof(kProgramMagic) - 1;
  return start != std::string_view::npos && bytes.compare(start, kMagicLen, kProgramMagic) == 0 &&
         (start + kMagicLen == bytes.size() ||
          std::string_view(" \t\r\n").find(bytes[start + kMagicLen]) != std::string::npos);
}

absl::StatusOr<Program> ParseProgramFileBytes(std::string_view bytes, std::string_view filename) {
  if (IsProgramText(bytes)) return ParseProgramText(bytes, filename);
  return ParseProgramBinary(bytes, filename);
}

}  // namespace fleet
