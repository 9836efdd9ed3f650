#include "runtime/collective/host_identity.h"

#include <limits.h>
#include <unistd.h>

#include <fstream>

#include "absl/strings/str_cat.h"
#include "ir/status_macros.h"

namespace fleet {
namespace {

std::string FirstLine(const char* path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line.empty() ? "unknown" : line;
}

std::string LinkTarget(const char* path) {
  char target[PATH_MAX];
  const ssize_t n = readlink(path, target, sizeof(target) - 1);
  return n > 0 ? std::string(target, static_cast<size_t>(n)) : "unknown";
}

}  // namespace

std::string HostIdentity() {
  char name[HOST_NAME_MAX + 1] = {};
  if (gethostname(name, sizeof(name) - 1) != 0) name[0] = '\0';
  return absl::StrCat("host ", name, ", boot ", FirstLine("/proc/sys/kernel/random/boot_id"), ", ",
                      LinkTarget("/proc/self/ns/pid"), ", ", LinkTarget("/proc/self/ns/net"),
                      ", uid ", geteuid());
}

absl::StatusOr<std::vector<std::string>> ExchangeHostIdentities(Store& store,
                                                                const std::string& prefix, int rank,
                                                                int size,
                                                                const std::string& identity,
                                                                std::chrono::milliseconds timeout) {
  auto key_of = [&](int r) { return absl::StrCat(prefix, "/host/", r); };
  FLEET_RETURN_IF_ERROR(store.Set(key_of(rank), identity));
  std::vector<std::string> keys;
  for (int r = 0; r < size; ++r) keys.push_back(key_of(r));
  FLEET_RETURN_IF_ERROR(store.Wait(keys, timeout));
  std::vector<std::string> identities;
  for (const std::string& key : keys) {
    FLEET_ASSIGN_OR_RETURN(std::string value, store.Get(key));
    identities.push_back(std::move(value));
  }
  return identities;
}

int FirstRankOnAnotherHost(const std::vector<std::string>& identities) {
  for (size_t r = 1; r < identities.size(); ++r) {
    if (identities[r] != identities[0]) return static_cast<int>(r);
  }
  return -1;
}

}  // namespace fleet
