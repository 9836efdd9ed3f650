// ChildProcess with real processes: output on the pipes, exit statuses, the environment given and
// nothing else, stdin from /dev/null, its own process group, errors when the program cannot run,
// and no process left behind by a ChildProcess destroyed unreaped. Waits block on poll() with a
// deadline (pipes, pidfds), never in a loop of sleeps.
#include "runtime/launch/child_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fleet::launch {
namespace {

using ::testing::HasSubstr;
using Clock = std::chrono::steady_clock;

constexpr auto kDeadline = std::chrono::seconds(20);
const std::vector<std::string> kEnv = {"PATH=/usr/bin:/bin"};

// A descriptor that turns readable when process `pid` ends (glibc 2.36's <sys/pidfd.h> misses
// extern "C", so the system call is made directly).
int PidFd(pid_t pid) { return static_cast<int>(syscall(SYS_pidfd_open, pid, 0)); }

int MillisLeft(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return static_cast<int>(std::max<int64_t>(0, left.count()));
}

// Everything the child writes to `fd` until end of file.
std::string ReadAll(int fd) {
  std::string out;
  Clock::time_point deadline = Clock::now() + kDeadline;
  while (true) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, MillisLeft(deadline)) <= 0) {
      ADD_FAILURE() << "no end of file before the deadline; got: " << out;
      return out;
    }
    char buf[4096];
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EAGAIN) continue;
    if (n <= 0) return out;
    out.append(buf, static_cast<size_t>(n));
  }
}

// Blocks until the child has ended (its pidfd turns readable), then reaps it.
ExitStatus WaitFor(ChildProcess& child) {
  int pidfd = PidFd(child.pid());
  if (pidfd >= 0) {
    pollfd p{pidfd, POLLIN, 0};
    EXPECT_EQ(poll(&p, 1, MillisLeft(Clock::now() + kDeadline)), 1) << "child still running";
    close(pidfd);
  }
  std::optional<ExitStatus> status = child.TryReap();
  EXPECT_TRUE(status.has_value());
  return status.value_or(ExitStatus{true, 0});
}

TEST(ChildProcessTest, RelaysStdoutAndStderrAndReportsTheExitCode) {
  auto child = ChildProcess::Spawn({"sh", "-c", "echo out; echo err >&2; exit 3"}, kEnv);
  ASSERT_TRUE(child.ok()) << child.status();
  EXPECT_EQ(ReadAll(child->stdout_fd()), "out\n");
  EXPECT_EQ(ReadAll(child->stderr_fd()), "err\n");
  ExitStatus status = WaitFor(*child);
  EXPECT_FALSE(status.signaled);
  EXPECT_EQ(status.value, 3);
  EXPECT_EQ(status.ShellCode(), 3);
  EXPECT_FALSE(status.success());
  EXPECT_EQ(status.Describe(), "exited with code 3");
  EXPECT_EQ(child->TryReap()->value, 3);  // the same status again
}

TEST(ChildProcessTest, SeesExactlyTheGivenEnvironmentAndAnEmptyStdin) {
  auto child =
      ChildProcess::Spawn({"sh", "-c", "echo \"$FOO|${HOME:-nohome}\"; cat; echo stdin-closed"},
                          {"PATH=/usr/bin:/bin", "FOO=bar baz"});
  ASSERT_TRUE(child.ok()) << child.status();
  EXPECT_EQ(ReadAll(child->stdout_fd()), "bar baz|nohome\nstdin-closed\n");
  EXPECT_TRUE(WaitFor(*child).success());
}

TEST(ChildProcessTest, RunsInItsOwnProcessGroupWhichSignalGroupReaches) {
  // The shell's background sleep is in the same group: one signal stops both.
  auto child = ChildProcess::Spawn({"sh", "-c", "sleep 60 & echo $!; wait"}, kEnv);
  ASSERT_TRUE(child.ok()) << child.status();
  EXPECT_EQ(getpgid(child->pid()), child->pid());
  EXPECT_NE(getpgid(child->pid()), getpgid(0));
  // The first line is the background sleep's pid.
  std::string line;
  Clock::time_point deadline = Clock::now() + kDeadline;
  while (line.find('\n') == std::string::npos) {
    pollfd p{child->stdout_fd(), POLLIN, 0};
    ASSERT_EQ(poll(&p, 1, MillisLeft(deadline)), 1);
    char buf[64];
    ssize_t n = read(child->stdout_fd(), buf, sizeof buf);
    ASSERT_GT(n, 0);
    line.append(buf, static_cast<size_t>(n));
  }
  pid_t grandchild = std::stoi(line);
  int grandchild_fd = PidFd(grandchild);
  ASSERT_GE(grandchild_fd, 0);
  EXPECT_EQ(getpgid(grandchild), child->pid());
  child->SignalGroup(SIGTERM);
  ExitStatus status = WaitFor(*child);
  EXPECT_TRUE(status.signaled);
  EXPECT_EQ(status.value, SIGTERM);
  EXPECT_EQ(status.ShellCode(), 143);
  EXPECT_EQ(status.Describe(), "killed by signal 15 (SIGTERM)");
  pollfd p{grandchild_fd, POLLIN, 0};
  EXPECT_EQ(poll(&p, 1, MillisLeft(Clock::now() + kDeadline)), 1) << "the sleep survived";
  close(grandchild_fd);
}

TEST(ChildProcessTest, DestroyingAnUnreapedChildKillsAndReapsIt) {
  pid_t pid;
  {
    auto child = ChildProcess::Spawn({"sleep", "60"}, kEnv);
    ASSERT_TRUE(child.ok()) << child.status();
    pid = child->pid();
    EXPECT_EQ(kill(pid, 0), 0);
  }
  // Reaped, so not even a zombie is left.
  EXPECT_EQ(kill(pid, 0), -1);
  EXPECT_EQ(errno, ESRCH);
}

TEST(ChildProcessTest, ProgramsThatCannotRunAreErrors) {
  auto missing = ChildProcess::Spawn({"no-such-program-for-fleet"}, kEnv);
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(missing.status().message()),
              HasSubstr("command 'no-such-program-for-fleet' is not on PATH (/usr/bin:/bin)"));

  char dir_template[] = "/tmp/fleet_child_test_XXXXXX";
  ASSERT_NE(mkdtemp(dir_template), nullptr);
  std::string dir = dir_template;
  std::string plain = dir + "/plain", garbage = dir + "/garbage";
  for (const std::string& path : {plain, garbage}) {
    FILE* f = fopen(path.c_str(), "w");
    ASSERT_NE(f, nullptr);
    fputs(
        "\x7f"
        "ELF not really\n",
        f);
    fclose(f);
  }
  chmod(garbage.c_str(), 0755);
  auto not_executable = ChildProcess::Spawn({plain}, kEnv);
  EXPECT_EQ(not_executable.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(not_executable.status().message()),
              HasSubstr("is not an executable file"));
  // exec itself fails: the error comes back from the child through the report pipe.
  auto bad_format = ChildProcess::Spawn({garbage}, kEnv);
  EXPECT_EQ(bad_format.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(bad_format.status().message()),
              HasSubstr("cannot run '" + garbage + "': Exec format error"));
  unlink(plain.c_str());
  unlink(garbage.c_str());
  rmdir(dir.c_str());
}

TEST(ChildProcessTest, FindExecutableSearchesPathInOrder) {
  auto sh = FindExecutable("sh", "/nonexistent:/bin:/usr/bin");
  ASSERT_TRUE(sh.ok()) << sh.status();
  EXPECT_EQ(*sh, "/bin/sh");
  EXPECT_EQ(FindExecutable("/bin/sh", "").value(), "/bin/sh");
  EXPECT_EQ(FindExecutable("", "/bin").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(SignalName(SIGKILL), "SIGKILL");
}

}  // namespace
}  // namespace fleet::launch
