// Starting, signalling and reaping the launcher's children (runtime/launch/child_process.h).
#include "runtime/launch/child_process.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace fleet::launch {
namespace {

void CloseFd(int& fd) {
  if (fd >= 0) close(fd);
  fd = -1;
}

bool IsExecutableFile(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && access(path.c_str(), X_OK) == 0;
}

std::string PathOf(const std::vector<std::string>& env) {
  for (const std::string& entry : env) {
    if (entry.rfind("PATH=", 0) == 0) return entry.substr(5);
  }
  return "/usr/local/bin:/usr/bin:/bin";
}

// Runs in the child between fork and exec: only async-signal-safe calls.
[[noreturn]] void ExecChild(const char* path, char* const* argv, char* const* envp, pid_t parent,
                            int null_fd, int out_fd, int err_fd, int report_fd) {
  setpgid(0, 0);
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  // The launcher may have died before the line above took effect.
  if (getppid() != parent) _exit(127);
  // The launcher blocks the signals it waits for, and a mask survives exec.
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  for (int s : {SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGCHLD}) signal(s, SIG_DFL);
  if (dup2(null_fd, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(err_fd, 2) < 0) {
    int e = errno;
    (void)!write(report_fd, &e, sizeof e);
    _exit(127);
  }
  execve(path, argv, envp);
  int e = errno;
  (void)!write(report_fd, &e, sizeof e);
  _exit(127);
}

}  // namespace

std::string SignalName(int signal) {
  const char* abbrev = sigabbrev_np(signal);
  if (abbrev == nullptr) return absl::StrCat("signal ", signal);
  return absl::StrCat("SIG", abbrev);
}

std::string ExitStatus::Describe() const {
  if (signaled) return absl::StrCat("killed by signal ", value, " (", SignalName(value), ")");
  return absl::StrCat("exited with code ", value);
}

ExitStatus ExitStatus::FromWaitStatus(int wait_status) {
  if (WIFSIGNALED(wait_status)) return ExitStatus{true, WTERMSIG(wait_status)};
  return ExitStatus{false, WEXITSTATUS(wait_status)};
}

absl::StatusOr<std::string> FindExecutable(const std::string& program, const std::string& path) {
  if (program.empty()) return absl::InvalidArgumentError("the command is empty");
  if (program.find('/') != std::string::npos) {
    if (IsExecutableFile(program)) return program;
    return absl::NotFoundError(absl::StrCat("command '", program, "' is not an executable file"));
  }
  for (absl::string_view dir : absl::StrSplit(path, ':')) {
    std::string candidate = absl::StrCat(dir.empty() ? "." : dir, "/", program);
    if (IsExecutableFile(candidate)) return candidate;
  }
  return absl::NotFoundError(absl::StrCat("command '", program, "' is not on PATH (", path, ")"));
}

absl::StatusOr<ChildProcess> ChildProcess::Spawn(const std::vector<std::string>& argv,
                                                 const std::vector<std::string>& env) {
  if (argv.empty()) return absl::InvalidArgumentError("no command to run");
  auto path = FindExecutable(argv[0], PathOf(env));
  if (!path.ok()) return path.status();
  // Everything the child touches is built before fork: it may not allocate.
  std::vector<char*> c_argv, c_env;
  for (const std::string& a : argv) c_argv.push_back(const_cast<char*>(a.c_str()));
  for (const std::string& e : env) c_env.push_back(const_cast<char*>(e.c_str()));
  c_argv.push_back(nullptr);
  c_env.push_back(nullptr);

  int out[2] = {-1, -1}, err[2] = {-1, -1}, report[2] = {-1, -1};
  int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  auto close_all = [&] {
    for (int* fd : {&out[0], &out[1], &err[0], &err[1], &report[0], &report[1], &null_fd}) {
      CloseFd(*fd);
    }
  };
  if (null_fd < 0 || pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0 ||
      pipe2(report, O_CLOEXEC) != 0) {
    int e = errno;
    close_all();
    return absl::ResourceExhaustedError(
        absl::StrCat("cannot create pipes for '", argv[0], "': ", strerror(e)));
  }
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) {
    int e = errno;
    close_all();
    return absl::ResourceExhaustedError(
        absl::StrCat("cannot start '", argv[0], "': fork: ", strerror(e)));
  }
  if (pid == 0) {
    ExecChild(path->c_str(), c_argv.data(), c_env.data(), parent, null_fd, out[1], err[1],
              report[1]);
  }
  // Both sides set the group, so that it exists whichever runs first.
  setpgid(pid, pid);
  CloseFd(out[1]);
  CloseFd(err[1]);
  CloseFd(report[1]);
  CloseFd(null_fd);
  // The report pipe closes on a successful exec (close-on-exec) or carries exec's errno.
  int child_errno = 0;
  ssize_t n;
  do {
    n = read(report[0], &child_errno, sizeof child_errno);
  } while (n < 0 && errno == EINTR);
  CloseFd(report[0]);
  if (n > 0) {
    int wait_status;
    while (waitpid(pid, &wait_status, 0) < 0 && errno == EINTR) {
    }
    close_all();
    return absl::FailedPreconditionError(
        absl::StrCat("cannot run '", *path, "': ", strerror(child_errno)));
  }
  fcntl(out[0], F_SETFL, fcntl(out[0], F_GETFL) | O_NONBLOCK);
  fcntl(err[0], F_SETFL, fcntl(err[0], F_GETFL) | O_NONBLOCK);
  return ChildProcess(pid, out[0], err[0]);
}

ChildProcess::ChildProcess(ChildProcess&& other) noexcept
    : pid_(other.pid_),
      stdout_fd_(other.stdout_fd_),
      stderr_fd_(other.stderr_fd_),
      status_(other.status_) {
  other.pid_ = -1;
  other.stdout_fd_ = -1;
  other.stderr_fd_ = -1;
}

ChildProcess::~ChildProcess() {
  if (pid_ > 0 && !status_) {
    SignalGroup(SIGKILL);
    int wait_status;
    while (waitpid(pid_, &wait_status, 0) < 0 && errno == EINTR) {
    }
  }
  CloseStdout();
  CloseStderr();
}

void ChildProcess::CloseStdout() { CloseFd(stdout_fd_); }
void ChildProcess::CloseStderr() { CloseFd(stderr_fd_); }

void ChildProcess::SignalGroup(int signal) const {
  if (pid_ > 0) kill(-pid_, signal);
}

std::optional<ExitStatus> ChildProcess::TryReap() {
  if (status_ || pid_ <= 0) return status_;
  int wait_status = 0;
  pid_t r;
  do {
    r = waitpid(pid_, &wait_status, WNOHANG);
  } while (r < 0 && errno == EINTR);
  if (r == pid_) status_ = ExitStatus::FromWaitStatus(wait_status);
  return status_;
}

}  // namespace fleet::launch
