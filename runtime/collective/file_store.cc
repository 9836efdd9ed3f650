// FileStore: one file per key in a shared folder; waits sleep on inotify.
#include <fcntl.h>
#include <poll.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "runtime/collective/store.h"
#include "runtime/collective/timeout.h"

namespace fleet {
namespace {

std::string Errno() { return std::strerror(errno); }

bool Exists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

// A temporary file in `folder` that no other writer uses at the same time: a thread writes one
// value at a time, and (process, thread) names the writer. Keys' files start with "k_", these
// with "t_".
std::string TemporaryPath(const std::string& folder) {
  std::ostringstream name;
  name << folder << "/t_" << getpid() << "_" << std::this_thread::get_id();
  return name.str();
}

}  // namespace

absl::StatusOr<std::unique_ptr<FileStore>> FileStore::Open(std::string folder) {
  if (mkdir(folder.c_str(), 0755) != 0 && errno != EEXIST) {
    return absl::InvalidArgumentError(
        absl::StrCat("file store: cannot create folder ", folder, ": ", Errno()));
  }
  struct stat st;
  if (stat(folder.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return absl::InvalidArgumentError(absl::StrCat("file store: ", folder, " is not a folder"));
  }
  return std::unique_ptr<FileStore>(new FileStore(std::move(folder)));
}

std::string FileStore::PathOf(std::string_view key) const {
  std::string name;
  for (unsigned char ch : key) {
    if (std::isalnum(ch) || ch == '.' || ch == '_' || ch == '-') {
      name.push_back(static_cast<char>(ch));
    } else {
      absl::StrAppend(&name, "%", absl::Hex(ch, absl::kZeroPad2));
    }
  }
  return absl::StrCat(folder_, "/k_", name);
}

absl::Status FileStore::Set(std::string_view key, std::string_view value) {
  const std::string path = PathOf(key);
  const std::string tmp = TemporaryPath(folder_);
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out.write(value.data(), static_cast<std::streamsize>(value.size()));
    out.close();
    if (!out) {
      unlink(tmp.c_str());
      return absl::UnavailableError(absl::StrCat(Describe(), ": cannot write ", tmp));
    }
  }
  if (rename(tmp.c_str(), path.c_str()) != 0) {  // atomic: readers see all of it or nothing
    std::string error = Errno();
    unlink(tmp.c_str());
    return absl::UnavailableError(
        absl::StrCat(Describe(), ": cannot rename ", tmp, " to ", path, ": ", error));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> FileStore::Get(std::string_view key) {
  std::ifstream in(PathOf(key), std::ios::binary);
  if (!in)
    return absl::NotFoundError(
        absl::StrCat(Describe(), ": key '", std::string(key), "' is not set"));
  std::ostringstream value;
  value << in.rdbuf();
  return value.str();
}

absl::Status FileStore::Wait(const std::vector<std::string>& keys,
                             std::chrono::milliseconds timeout, std::vector<std::string>* missing) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  // Watch before looking, so that a key set in between still wakes us.
  int fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
  if (fd < 0) return absl::InternalError(absl::StrCat(Describe(), ": inotify: ", Errno()));
  if (inotify_add_watch(fd, folder_.c_str(), IN_MOVED_TO | IN_CLOSE_WRITE | IN_CREATE) < 0) {
    std::string error = Errno();
    close(fd);
    return absl::InternalError(absl::StrCat(Describe(), ": inotify watch: ", error));
  }
  std::vector<std::string> absent;
  for (;;) {
    absent.clear();
    for (const std::string& k : keys) {
      if (!Exists(PathOf(k))) absent.push_back(k);
    }
    if (absent.empty()) break;
    pollfd p{fd, POLLIN, 0};
    int rc = poll(&p, 1, MillisLeft(deadline));
    if (rc < 0 && errno != EINTR) {
      std::string error = Errno();
      close(fd);
      return absl::InternalError(absl::StrCat(Describe(), ": poll: ", error));
    }
    if (rc == 0 && std::chrono::steady_clock::now() >= deadline) break;
    char events[4096];
    while (read(fd, events, sizeof(events)) > 0) {
      // Drained: which file changed does not matter, the keys are looked at again.
    }
  }
  close(fd);
  if (absent.empty()) return absl::OkStatus();
  std::string message = absl::StrCat(Describe(), ": keys not set after ", DurationText(timeout),
                                     ": '", absl::StrJoin(absent, "', '"), "'");
  if (missing != nullptr) *missing = std::move(absent);
  return absl::DeadlineExceededError(message);
}

std::string FileStore::Describe() const { return absl::StrCat("file store ", folder_); }

}  // namespace fleet
