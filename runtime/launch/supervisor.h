// Runs the processes of a LaunchPlan to the end of the job: starts them, relays their output line
// by line with the role in front ("[worker.1] ..."), optionally into one log file each, and
// decides when the job is over and with which exit code.
//
// The rules (docs/launch.md):
// - The job succeeds when every worker exits with 0 and then the servers exit by themselves.
//   Servers still running `server_grace` after the last worker are stopped (SIGTERM, then
//   SIGKILL after `stop_grace`) and reported; the job still succeeds.
// - The first child to fail (non-zero exit or a signal) fails the job: the others get SIGTERM,
//   SIGKILL `stop_grace` later, and the exit code is the failed child's (128 + signal for a
//   signal). A server that exits with 0 while workers run is noted, not a failure: it may have
//   ended on the last worker's goodbye just before that worker's exit was seen.
// - SIGINT, SIGTERM or SIGHUP to the launcher is forwarded to every child; the exit code is then
//   128 + that signal (unless a child had failed first). A second one sends SIGKILL at once.
// - When the job ends, whatever a child left running in its process group is killed, so no
//   process outlives the launcher.
// Waiting never spins: one poll() over the pipes and a signalfd, with the nearest deadline.
//
// Thread safety: call from a process's only thread (it changes the signal mask and waits for
// SIGCHLD, SIGINT, SIGTERM and SIGHUP through a signalfd); the children die with that thread.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/launch/launch_plan.h"

namespace fleet::launch {

struct SupervisorOptions {
  // The command every child runs (argv; argv[0] looked up on the children's PATH).
  std::vector<std::string> command;
  // The environment the children inherit ("NAME=value"), before their role variables are set.
  std::vector<std::string> inherited_env;
  // When not empty: a folder for one log file per child, "<log_dir>/worker.1.log", holding its
  // stdout and stderr lines without the prefix. Created if missing.
  std::string log_dir;
  std::chrono::milliseconds server_grace{std::chrono::seconds(30)};
  std::chrono::milliseconds stop_grace{std::chrono::seconds(10)};
  // Where the children's stdout and stderr lines go, and the launcher's own messages (err_fd).
  int out_fd = 1;
  int err_fd = 2;
};

// Runs the job; returns the launcher's exit code. An error status only when nothing could be
// started (the log folder cannot be made, the signalfd fails); then nothing is left running.
absl::StatusOr<int> Supervise(const LaunchPlan& plan, const SupervisorOptions& options);

}  // namespace fleet::launch
