// One child process of the launcher: started in its own process group, with PR_SET_PDEATHSIG so
// that it dies with the launcher, stdin from /dev/null, and stdout and stderr on pipes the
// launcher reads.
//
// Ownership: a ChildProcess owns its pid until reaped and its pipe ends. Destroying one whose
// process was not reaped kills its process group with SIGKILL and reaps it, so an error path
// cannot leave an orphan behind. Thread safety: none; one thread drives all children. The thread
// that spawns must live as long as the children: PR_SET_PDEATHSIG fires when that thread exits.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace fleet::launch {

// How a process ended.
struct ExitStatus {
  bool signaled = false;  // killed by a signal
  int value = 0;          // the exit code, or the signal number when `signaled`

  bool success() const { return !signaled && value == 0; }
  // What a shell reports: the exit code, or 128 + the signal.
  int ShellCode() const { return signaled ? 128 + value : value; }
  // "exited with code 3", "killed by signal 9 (SIGKILL)".
  std::string Describe() const;
  static ExitStatus FromWaitStatus(int wait_status);
};

// "SIGTERM" for 15; "signal 64" for one without a name.
std::string SignalName(int signal);

// The file `program` names: itself when it holds a '/', else the first executable match on
// `path` (a PATH value). NOT_FOUND "command 'x' is not on PATH (...)" when there is none.
absl::StatusOr<std::string> FindExecutable(const std::string& program, const std::string& path);

class ChildProcess {
 public:
  // Starts `argv` (argv[0] resolved with FindExecutable against the PATH of `env`) with exactly
  // the environment `env` ("NAME=value" entries). Fails, with nothing left running, when the
  // program cannot be found or executed.
  static absl::StatusOr<ChildProcess> Spawn(const std::vector<std::string>& argv,
                                            const std::vector<std::string>& env);

  ChildProcess(ChildProcess&& other) noexcept;
  ChildProcess& operator=(ChildProcess&&) = delete;
  ChildProcess(const ChildProcess&) = delete;
  ~ChildProcess();

  pid_t pid() const { return pid_; }
  // Read ends of the child's stdout and stderr: non-blocking, close-on-exec; -1 once closed.
  int stdout_fd() const { return stdout_fd_; }
  int stderr_fd() const { return stderr_fd_; }
  void CloseStdout();
  void CloseStderr();

  // Sends `signal` to the child's process group (the child and whatever it started). A group
  // that no longer exists is not an error.
  void SignalGroup(int signal) const;
  // Reaps the child if it has ended (never blocks): its status then, nullopt while it runs, and
  // the same status on later calls.
  std::optional<ExitStatus> TryReap();
  bool reaped() const { return status_.has_value(); }

 private:
  ChildProcess(pid_t pid, int stdout_fd, int stderr_fd)
      : pid_(pid), stdout_fd_(stdout_fd), stderr_fd_(stderr_fd) {}

  pid_t pid_ = -1;
  int stdout_fd_ = -1;
  int stderr_fd_ = -1;
  std::optional<ExitStatus> status_;
};

}  // namespace fleet::launch
