// Checkpoint folders: .npy files per persistable var, a JSON manifest, atomic replacement.
#include "executor/training/checkpoint.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <set>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "executor/npy.h"
#include "ir/status_macros.h"
#include "nlohmann/json.hpp"

namespace fleet {
namespace {

namespace fs = std::filesystem;

constexpr char kManifest[] = "manifest.json";
constexpr char kFormat[] = "fleet.checkpoint";
constexpr int kVersion = 1;

std::string DeclaredType(const Var& var) {
  if (!var.shape.has_value()) return absl::StrCat(DataTypeName(var.dtype), "[...]");
  std::vector<std::string> dims;
  for (int64_t d : *var.shape) dims.push_back(d < 0 ? "?" : std::to_string(d));
  return absl::StrCat(DataTypeName(var.dtype), "[", absl::StrJoin(dims, ","), "]");
}

bool Matches(const Var& var, DataType dtype, const std::vector<int64_t>& shape) {
  if (var.dtype != DataType::kUndefined && var.dtype != dtype) return false;
  if (!var.shape.has_value()) return true;
  if (var.shape->size() != shape.size()) return false;
  for (size_t i = 0; i < shape.size(); ++i) {
    if ((*var.shape)[i] >= 0 && (*var.shape)[i] != shape[i]) return false;
  }
  return true;
}

// A file name for a var: names may hold '/', ':' and the like; clashes get a numeric suffix.
std::string FileFor(const std::string& var, std::set<std::string>& taken) {
  std::string base;
  for (char c : var) {
    const bool plain =
        std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-' || c == '@';
    base += plain ? c : '_';
  }
  if (base.empty() || base[0] == '.') base = "_" + base;
  std::string file = base + ".npy";
  for (int k = 1; !taken.insert(file).second; ++k) file = absl::StrCat(base, ".", k, ".npy");
  return file;
}

absl::Status WriteText(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.flush();
  if (!out) return absl::DataLossError(absl::StrCat(path.string(), ": write failed"));
  return absl::OkStatus();
}

// Flushes a file or folder to the disk, so a crash after the rename that publishes a checkpoint
// cannot leave it with short files.
absl::Status SyncToDisk(const fs::path& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return absl::DataLossError(absl::StrCat(path.string(), ": cannot open to sync"));
  const int rc = fsync(fd);
  close(fd);
  if (rc != 0) return absl::DataLossError(absl::StrCat(path.string(), ": fsync failed"));
  return absl::OkStatus();
}

// Syncs every file of `staged` and the folder itself.
absl::Status SyncFolder(const fs::path& staged) {
  std::error_code ec;
  for (const fs::directory_entry& e : fs::directory_iterator(staged, ec)) {
    FLEET_RETURN_IF_ERROR(SyncToDisk(e.path()));
  }
  if (ec) return absl::DataLossError(absl::StrCat(staged.string(), ": ", ec.message()));
  return SyncToDisk(staged);
}

// Moves the complete folder `staged` to `dir`. An existing `dir` is swapped out in one step
// (renameat2 RENAME_EXCHANGE) where the file system allows it, else renamed aside first; the
// old folder is deleted afterwards.
absl::Status Publish(const fs::path& staged, const fs::path& dir) {
  std::error_code ec;
  if (!fs::exists(dir, ec)) {
    fs::rename(staged, dir, ec);
    if (ec)
      return absl::DataLossError(absl::StrCat(
          dir.string(), ": cannot rename the new checkpoint into place: ", ec.message()));
    return absl::OkStatus();
  }
  if (renameat2(AT_FDCWD, staged.c_str(), AT_FDCWD, dir.c_str(), RENAME_EXCHANGE) == 0) {
    fs::remove_all(staged, ec);  // now holds the previous checkpoint
    return absl::OkStatus();
  }
  fs::path old = staged;
  old += ".old";
  fs::remove_all(old, ec);
  fs::rename(dir, old, ec);
  if (!ec) fs::rename(staged, dir, ec);
  if (ec) {
    return absl::DataLossError(absl::StrCat(dir.string(),
                                            ": cannot replace the checkpoint: ", ec.message(),
                                            " (the new one is in ", staged.string(), ")"));
  }
  fs::remove_all(old, ec);
  return absl::OkStatus();
}

// An integer of the manifest in [lo, hi]. nlohmann's get<int64_t>() converts a JSON float with a
// cast that is undefined behaviour out of range ("step": 1e300), so only JSON integers are read.
absl::StatusOr<int64_t> ManifestInt(const nlohmann::json& value, const fs::path& manifest,
                                    const std::string& what, int64_t lo, int64_t hi) {
  if (value.is_number_unsigned()) {
    const uint64_t u = value.get<uint64_t>();
    if (u <= static_cast<uint64_t>(hi) && static_cast<int64_t>(u) >= lo) {
      return static_cast<int64_t>(u);
    }
  } else if (value.is_number_integer()) {
    const int64_t v = value.get<int64_t>();
    if (v >= lo && v <= hi) return v;
  }
  return absl::InvalidArgumentError(absl::StrCat(manifest.string(), ": ", what, " is ",
                                                 value.dump(), "; expected an integer in [", lo,
                                                 ", ", hi, "]"));
}

}  // namespace

std::string ProgramFingerprint(const Program& program) {
  std::map<std::string, std::string> described;
  for (const Var& v : program.main().vars()) described[v.name] = DeclaredType(v);
  uint64_t h = 0xcbf29ce484222325ULL;  // FNV-1a, 64 bit
  auto mix = [&h](const std::string& s) {
    for (unsigned char c : s) {
      h ^= c;
      h *= 0x100000001b3ULL;
    }
    h ^= 0xff;  // separator: ("ab","c") and ("a","bc") differ
    h *= 0x100000001b3ULL;
  };
  for (const auto& [name, type] : described) {
    mix(name);
    mix(type);
  }
  char hex[17];
  std::snprintf(hex, sizeof(hex), "%016llx", static_cast<unsigned long long>(h));
  return hex;
}

std::vector<std::string> CheckpointVars(const Program& program) {
  std::vector<std::string> out;
  for (const Var& v : program.main().vars()) {
    if (v.Has(kVarPersistable) && !v.Has(kVarFeed)) out.push_back(v.name);
  }
  std::sort(out.begin(), out.end());
  return out;
}

absl::Status SaveCheckpoint(const std::string& dir, const Program& program, const Scope& scope,
                            const CheckpointInfo& info) {
  std::error_code ec;
  fs::path target = fs::path(dir);
  if (target.filename().empty()) target = target.parent_path();  // "ckpt/" -> "ckpt"
  if (fs::exists(target, ec) &&
      (!fs::is_directory(target, ec) ||
       (!fs::is_empty(target, ec) && !fs::exists(target / kManifest, ec)))) {
    return absl::FailedPreconditionError(absl::StrCat(dir,
                                                      ": exists and is not a Fleet checkpoint (no ",
                                                      kManifest, "); refusing to replace it"));
  }
  fs::path staged = target;
  staged += absl::StrCat(".tmp-", getpid());
  fs::remove_all(staged, ec);
  fs::create_directories(staged, ec);
  if (ec) {
    return absl::PermissionDeniedError(
        absl::StrCat(staged.string(), ": cannot create folder: ", ec.message()));
  }
  nlohmann::json vars = nlohmann::json::array();
  std::set<std::string> files;
  absl::Status status;
  for (const std::string& name : CheckpointVars(program)) {
    const Tensor* t = scope.Find(name);
    if (t == nullptr || !t->defined()) {
      status = absl::FailedPreconditionError(
          absl::StrCat("checkpoint ", dir, ": persistable var '", name, "' has no value"));
      break;
    }
    const std::string file = FileFor(name, files);
    status = WriteNpy((staged / file).string(), *t);
    if (!status.ok()) break;
    vars.push_back({{"name", name},
                    {"file", file},
                    {"dtype", DataTypeName(t->dtype())},
                    {"shape", t->shape()}});
  }
  if (status.ok()) {
    nlohmann::json manifest = {{"format", kFormat},
                               {"version", kVersion},
                               {"step", info.step},
                               {"epoch", info.epoch},
                               {"fingerprint", ProgramFingerprint(program)},
                               {"vars", vars}};
    status = WriteText(staged / kManifest, manifest.dump(1) + "\n");
  }
  if (status.ok()) status = SyncFolder(staged);
  if (status.ok()) status = Publish(staged, target);
  if (!status.ok()) {
    fs::remove_all(staged, ec);
    return status;
  }
  fs::path parent = target.parent_path();
  return SyncToDisk(parent.empty() ? fs::path(".") : parent);
}

absl::StatusOr<CheckpointInfo> LoadCheckpoint(const std::string& dir, const Program& program,
                                              Scope& scope) {
  const fs::path manifest_path = fs::path(dir) / kManifest;
  std::ifstream in(manifest_path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(
        absl::StrCat(dir, ": not a Fleet checkpoint (cannot open ", kManifest, ")"));
  }
  std::stringstream text;
  text << in.rdbuf();
  CheckpointInfo info;
  // name -> (file, dtype, shape) as the manifest records them
  struct Entry {
    std::string file;
    std::string dtype;
    std::vector<int64_t> shape;
  };
  std::map<std::string, Entry> entries;
  try {
    const nlohmann::json m = nlohmann::json::parse(text.str());
    constexpr int64_t kIntMax = std::numeric_limits<int>::max();
    constexpr int64_t kInt64Max = std::numeric_limits<int64_t>::max();
    FLEET_ASSIGN_OR_RETURN(int64_t version,
                           ManifestInt(m.at("version"), manifest_path, "version", 0, kIntMax));
    if (m.at("format").get<std::string>() != kFormat || version != kVersion) {
      return absl::InvalidArgumentError(
          absl::StrCat(manifest_path.string(), ": format ", m.at("format").dump(), " version ",
                       m.at("version").dump(), "; expected \"", kFormat, "\" version ", kVersion));
    }
    FLEET_ASSIGN_OR_RETURN(info.step, ManifestInt(m.at("step"), manifest_path, "step",
                                                  std::numeric_limits<int64_t>::min(), kInt64Max));
    FLEET_ASSIGN_OR_RETURN(int64_t epoch,
                           ManifestInt(m.at("epoch"), manifest_path, "epoch", 0, kIntMax));
    info.epoch = static_cast<int>(epoch);
    info.fingerprint = m.at("fingerprint").get<std::string>();
    for (const nlohmann::json& v : m.at("vars")) {
      const std::string name = v.at("name").get<std::string>();
      std::vector<int64_t> shape;
      for (const nlohmann::json& d : v.at("shape").get<std::vector<nlohmann::json>>()) {
        FLEET_ASSIGN_OR_RETURN(
            int64_t dim,
            ManifestInt(d, manifest_path, absl::StrCat("a dim of var '", name, "'"), 0, kInt64Max));
        shape.push_back(dim);
      }
      entries[name] =
          Entry{v.at("file").get<std::string>(), v.at("dtype").get<std::string>(), std::move(shape)};
    }
  } catch (const nlohmann::json::exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat(manifest_path.string(), ": malformed manifest: ", e.what()));
  }

  const std::string where = absl::StrCat("checkpoint ", dir);
  const std::string hint = " (hint: was it saved from another program?)";
  const std::vector<std::string> wanted = CheckpointVars(program);
  for (const std::string& name : wanted) {
    if (!entries.count(name)) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, " has no var '", name, "', which the program needs", hint));
    }
  }
  std::map<std::string, Tensor> loaded;
  for (const auto& [name, entry] : entries) {
    const Var* var = program.main().FindVar(name);
    if (var == nullptr || !std::binary_search(wanted.begin(), wanted.end(), name)) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, " holds var '", name, "', which is not a persistable var of the program", hint));
    }
    if (entry.file.empty() || entry.file.find('/') != std::string::npos || entry.file[0] == '.') {
      return absl::InvalidArgumentError(absl::StrCat(manifest_path.string(), ": var '", name,
                                                     "' has the bad file name '", entry.file, "'"));
    }
    FLEET_ASSIGN_OR_RETURN(Tensor t, ReadNpy((fs::path(dir) / entry.file).string()));
    if (!Matches(*var, t.dtype(), t.shape())) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": var '", name, "' is ",
                                                     t.TypeString(), "; the program declares ",
                                                     DeclaredType(*var), hint));
    }
    // A shape the declaration leaves open must still fit what is already there (the startup
    // program's value), so a mismatch is not found at some later step.
    const Tensor* current = scope.Find(name);
    if (current != nullptr && current->defined() &&
        (current->dtype() != t.dtype() || current->shape() != t.shape())) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": var '", name, "' is ",
                                                     t.TypeString(), "; the program's is ",
                                                     current->TypeString(), hint));
    }
    loaded[name] = std::move(t);
  }
  const std::string fingerprint = ProgramFingerprint(program);
  if (info.fingerprint != fingerprint) {
    return absl::InvalidArgumentError(absl::StrCat(
        where, " was saved from another program: its vars' fingerprint is ", info.fingerprint,
        "; this program's is ", fingerprint, " (the vars' names, dtypes or shapes differ)"));
  }
  for (auto& [name, t] : loaded) scope.Set(name, std::move(t));
  return info;
}

}  // namespace fleet
