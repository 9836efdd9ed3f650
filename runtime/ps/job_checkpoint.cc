#include "runtime/ps/job_checkpoint.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "ir/status_macros.h"
#include "nlohmann/json.hpp"

namespace fleet::ps {
namespace {

constexpr char kFormat[] = "fleet.ps_checkpoint";
constexpr int kVersion = 1;

std::string TrainerFolder(const std::string& dir) { return dir + "/trainer"; }

absl::Status FsError(const std::string& what, const std::error_code& error) {
  return absl::UnavailableError(absl::StrCat(what, ": ", error.message()));
}

}  // namespace

bool IsJobCheckpoint(const std::string& dir) {
  std::ifstream in(dir + "/manifest.json");
  if (!in) return false;
  nlohmann::json manifest = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  return manifest.is_object() && manifest.value("format", "") == kFormat;
}

absl::Status SaveJobCheckpoint(PsClient& client, AsyncCommunicator* communicator,
                               const std::string& dir, const Program& trainer, const Scope& state,
                               const CheckpointInfo& info) {
  namespace fs = std::filesystem;
  std::error_code error;
  if (fs::exists(dir, error) && !IsJobCheckpoint(dir)) {
    return absl::FailedPreconditionError(absl::StrCat(
        dir, " exists and is not a parameter-server checkpoint; refusing to replace it"));
  }
  if (communicator != nullptr) FLEET_RETURN_IF_ERROR(communicator->Flush());
  const std::string tmp = absl::StrCat(dir, ".tmp-", getpid());
  fs::remove_all(tmp, error);
  fs::create_directories(tmp, error);
  if (error) return FsError(absl::StrCat("cannot create ", tmp), error);
  absl::Status status = client.Save(tmp);
  if (status.ok()) {
    status = SaveCheckpoint(TrainerFolder(tmp), trainer, state, info);
  }
  if (status.ok()) {
    const nlohmann::json manifest = {{"format", kFormat},
                                     {"version", kVersion},
                                     {"num_servers", client.num_servers()},
                                     {"step", info.step}};
    std::ofstream out(tmp + "/manifest.json", std::ios::trunc);
    out << manifest.dump(1) << "\n";
    out.close();
    if (!out) status = absl::UnavailableError(absl::StrCat("cannot write ", tmp, "/manifest.json"));
  }
  if (!status.ok()) {
    fs::remove_all(tmp, error);
    return status;
  }
  // Publish: the old checkpoint moves aside only once the new one is complete.
  const std::string old = absl::StrCat(dir, ".old-", getpid());
  if (fs::exists(dir, error)) {
    fs::rename(dir, old, error);
    if (error) return FsError(absl::StrCat("cannot move ", dir, " aside"), error);
  }
  fs::rename(tmp, dir, error);
  if (error) return FsError(absl::StrCat("cannot rename ", tmp, " to ", dir), error);
  fs::remove_all(old, error);
  return absl::OkStatus();
}

absl::StatusOr<CheckpointInfo> LoadJobCheckpointTrainer(const std::string& dir,
                                                        const Program& trainer, Scope& state) {
  if (!IsJobCheckpoint(dir)) {
    return absl::NotFoundError(
        absl::StrCat(dir, " is not a parameter-server checkpoint (no manifest.json of format ",
                     kFormat, "; hint: --save of a parameter-server job writes one)"));
  }
  return LoadCheckpoint(TrainerFolder(dir), trainer, state);
}

}  // namespace fleet::ps
