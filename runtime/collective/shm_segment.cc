#include "runtime/collective/shm_segment.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <sstream>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace fleet {
namespace {

constexpr char kMagic[8] = {'F', 'L', 'E', 'E', 'T', 'S', 'H', 'M'};
constexpr size_t kTokenBytes = 16;

std::string ErrnoText(int err) { return std::strerror(err); }

// Maps `total` bytes of `fd`, faulting every page in now rather than in the first collective.
absl::StatusOr<char*> Map(int fd, size_t total) {
  void* base = mmap(nullptr, total, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
  if (base == MAP_FAILED) {
    return absl::ResourceExhaustedError(
        absl::StrCat("shared memory: cannot map ", total, " bytes: ", ErrnoText(errno)));
  }
  return static_cast<char*>(base);
}

}  // namespace

absl::StatusOr<ShmSegment> ShmSegment::Create(size_t bytes) {
  const size_t total = kHeaderBytes + bytes;
  const int fd = memfd_create("fleet-collective", MFD_CLOEXEC);
  if (fd < 0) {
    return absl::UnavailableError(
        absl::StrCat("shared memory: memfd_create failed: ", ErrnoText(errno)));
  }
  if (ftruncate(fd, static_cast<off_t>(total)) != 0) {
    const int err = errno;
    close(fd);
    return absl::ResourceExhaustedError(
        absl::StrCat("shared memory: cannot size a segment of ", total, " bytes: ", ErrnoText(err),
                     " (hint: the segment lives in RAM; a smaller staging area needs less)"));
  }
  absl::StatusOr<char*> base = Map(fd, total);
  if (!base.ok()) {
    close(fd);
    return base.status();
  }
  char token[kTokenBytes];
  if (getrandom(token, sizeof(token), 0) != static_cast<ssize_t>(sizeof(token))) {
    const int err = errno;
    munmap(*base, total);
    close(fd);
    return absl::UnavailableError(absl::StrCat("shared memory: getrandom: ", ErrnoText(err)));
  }
  std::memcpy(*base, kMagic, sizeof(kMagic));
  std::memcpy(*base + sizeof(kMagic), token, sizeof(token));
  return ShmSegment(*base, bytes, fd, absl::BytesToHexString(std::string(token, sizeof(token))));
}

absl::StatusOr<ShmSegment> ShmSegment::Open(const std::string& locator) {
  std::istringstream in(locator);
  long pid = 0, fd_number = 0;
  size_t bytes = 0;
  std::string token;
  if (!(in >> pid >> fd_number >> bytes >> token) || token.size() != 2 * kTokenBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("shared memory: locator '", locator, "' is not '<pid> <fd> <bytes> <token>'"));
  }
  const std::string path = absl::StrCat("/proc/", pid, "/fd/", fd_number);
  const int fd = open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("shared memory: cannot open rank 0's segment ", path, ": ", ErrnoText(errno),
                     " (hint: ranks that share memory run as one user in one PID namespace; "
                     "FLEET_COLLECTIVE_TRANSPORT=gloo uses TCP instead)"));
  }
  const size_t total = kHeaderBytes + bytes;
  struct stat st;
  if (fstat(fd, &st) != 0 || static_cast<size_t>(st.st_size) != total) {
    close(fd);
    return absl::FailedPreconditionError(
        absl::StrCat("shared memory: ", path, " is not rank 0's segment of ", total, " bytes"));
  }
  absl::StatusOr<char*> base = Map(fd, total);
  if (!base.ok()) {
    close(fd);
    return base.status();
  }
  const std::string found =
      absl::BytesToHexString(std::string(*base + sizeof(kMagic), kTokenBytes));
  if (std::memcmp(*base, kMagic, sizeof(kMagic)) != 0 || found != token) {
    munmap(*base, total);
    close(fd);
    return absl::FailedPreconditionError(
        absl::StrCat("shared memory: ", path, " is another segment than the one rank 0 published"));
  }
  return ShmSegment(*base, bytes, fd, std::move(token));
}

ShmSegment::ShmSegment(ShmSegment&& other) noexcept
    : base_(other.base_), bytes_(other.bytes_), fd_(other.fd_), token_(std::move(other.token_)) {
  other.base_ = nullptr;
  other.fd_ = -1;
}

ShmSegment& ShmSegment::operator=(ShmSegment&& other) noexcept {
  if (this != &other) {
    Release();
    base_ = other.base_;
    bytes_ = other.bytes_;
    fd_ = other.fd_;
    token_ = std::move(other.token_);
    other.base_ = nullptr;
    other.fd_ = -1;
  }
  return *this;
}

ShmSegment::~ShmSegment() { Release(); }

void ShmSegment::Release() {
  if (base_ != nullptr) munmap(base_, kHeaderBytes + bytes_);
  base_ = nullptr;
  CloseFile();
}

std::string ShmSegment::Locator() const {
  return absl::StrCat(getpid(), " ", fd_, " ", bytes_, " ", token_);
}

void ShmSegment::CloseFile() {
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
}

}  // namespace fleet
