// ShmSegment: memory shared by the processes (or threads) of one host.
//
// One rank creates the segment as a memfd: an anonymous file that no folder names, so nothing
// is left in /dev/shm or anywhere else, whoever dies when. The others open it through the
// creator's /proc/<pid>/fd/<fd> (same user and PID namespace: host_identity.h checks both) and
// check a random token written at its start, which the locator carries, so that a reused fd
// number or PID cannot hand them another file. Once every rank has mapped it, each closes its
// file descriptor (CloseFile); the memory lives until the last rank unmaps it.
//
// Internal to runtime/collective (shm_communicator.cc).
// Ownership: the object owns its mapping and descriptor; moving it moves them.
// Thread safety: none; the mapped bytes are shared by design and synchronised by their users.
#pragma once

#include <cstddef>
#include <string>

#include "absl/status/statusor.h"

namespace fleet {

class ShmSegment {
 public:
  // Creates a zero-filled segment with `bytes` usable bytes, mapped and faulted in.
  static absl::StatusOr<ShmSegment> Create(size_t bytes);
  // Maps the segment that `locator` (Locator() of the creating rank) names; checks its size and
  // token.
  static absl::StatusOr<ShmSegment> Open(const std::string& locator);

  ShmSegment(ShmSegment&& other) noexcept;
  ShmSegment& operator=(ShmSegment&& other) noexcept;
  ShmSegment(const ShmSegment&) = delete;
  ShmSegment& operator=(const ShmSegment&) = delete;
  ~ShmSegment();

  // How the other ranks of this host reach the segment: "<pid> <fd> <bytes> <token>".
  std::string Locator() const;
  // Closes the file descriptor; the mapping stays. After this, Open of the locator fails.
  void CloseFile();

  // The usable bytes (after the segment's own header), 64-byte aligned.
  char* data() const { return base_ + kHeaderBytes; }
  size_t size() const { return bytes_; }

 private:
  static constexpr size_t kHeaderBytes = 64;  // magic and token
  ShmSegment(char* base, size_t bytes, int fd, std::string token)
      : base_(base), bytes_(bytes), fd_(fd), token_(std::move(token)) {}
  void Release();

  char* base_ = nullptr;
  size_t bytes_ = 0;
  int fd_ = -1;
  std::string token_;  // hex
};

}  // namespace fleet
