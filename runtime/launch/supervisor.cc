// The launcher's event loop (runtime/launch/supervisor.h): one poll() over the children's pipes
// and a signalfd for SIGCHLD and the forwarded signals, with the nearest deadline as timeout.
#include "runtime/launch/supervisor.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "runtime/launch/child_process.h"
#include "runtime/launch/line_buffer.h"

namespace fleet::launch {
namespace {

using Clock = std::chrono::steady_clock;

// How long the last output of dead children is awaited when a job ends; only a process that left
// its group (setsid) can hold a pipe open past the final SIGKILL.
constexpr std::chrono::seconds kDrainDeadline{2};

// Writes all of `data`; gives up quietly on a closed reader (EPIPE), which must not stop the job.
void WriteAll(int fd, absl::string_view data) {
  while (!data.empty()) {
    ssize_t n = write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) {
      pollfd p{fd, POLLOUT, 0};
      poll(&p, 1, 1000);
      continue;
    }
    if (n <= 0) return;
    data.remove_prefix(static_cast<size_t>(n));
  }
}

std::string Plural(int n, absl::string_view noun) {
  return absl::StrCat(n, " ", noun, n == 1 ? "" : "s");
}

std::string Seconds(std::chrono::milliseconds d) {
  if (d.count() % 1000 == 0) return absl::StrCat(d.count() / 1000, "s");
  return absl::StrCat(d.count() / 1000.0, "s");
}

struct Child {
  explicit Child(PlannedChild p) : plan(std::move(p)) {}

  PlannedChild plan;
  std::optional<ChildProcess> process;
  LineBuffer out, err;
  int log_fd = -1;
  std::optional<ExitStatus> status;
  bool stopped_by_us = false;

  bool running() const { return process.has_value() && !status.has_value(); }
  std::string Who() const {
    return process ? absl::StrCat(plan.name, " (pid ", process->pid(), ")") : plan.name;
  }
};

class Supervisor {
 public:
  Supervisor(const LaunchPlan& plan, const SupervisorOptions& options) : options_(options) {
    children_.reserve(plan.children.size());
    for (const PlannedChild& c : plan.children) children_.emplace_back(c);
  }
  ~Supervisor();

  absl::StatusOr<int> Run();

 private:
  absl::Status Setup();
  void SpawnAll();
  void HandleSignals();
  void ReapAll();
  void OnExit(Child& c, ExitStatus status);
  // Reads what is available on one of `c`'s pipes; closes it at end of file.
  void Read(Child& c, bool is_stderr);
  void Emit(Child& c, bool is_stderr, std::string_view line);
  void Signal(Child& c, int signal);
  // Sends `signal` to every running child and starts the SIGKILL deadline.
  void StopAll(int signal);
  void CheckDeadlines();
  void Finish();
  void Say(absl::string_view message) {
    WriteAll(options_.err_fd, absl::StrCat("fleet-launch: ", message, "\n"));
  }
  int Running(RoleKind kind) const {
    return static_cast<int>(std::count_if(children_.begin(), children_.end(), [&](const Child& c) {
      return c.running() && c.plan.kind == kind;
    }));
  }
  std::string RunningNames() const {
    std::vector<std::string> names;
    for (const Child& c : children_) {
      if (c.running()) names.push_back(c.plan.name);
    }
    return names.empty() ? "none" : absl::StrJoin(names, ", ");
  }

  const SupervisorOptions& options_;
  std::vector<Child> children_;
  int signal_fd_ = -1;
  sigset_t old_mask_;
  struct sigaction old_sigpipe_;
  bool mask_changed_ = false;
  std::optional<Clock::time_point> server_deadline_, kill_deadline_;
  bool stopping_ = false;
  bool servers_stopped_ = false;
  std::string first_failure_;
  int exit_code_ = 0;
  int received_signal_ = 0;
};

Supervisor::~Supervisor() {
  for (Child& c : children_) {
    if (c.log_fd >= 0) close(c.log_fd);
  }
  if (signal_fd_ >= 0) close(signal_fd_);
  if (mask_changed_) {
    pthread_sigmask(SIG_SETMASK, &old_mask_, nullptr);
    sigaction(SIGPIPE, &old_sigpipe_, nullptr);
  }
}

absl::Status Supervisor::Setup() {
  if (!options_.log_dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(options_.log_dir, ec);
    if (ec) {
      return absl::PermissionDeniedError(absl::StrCat(
          "--log-dir ", options_.log_dir, ": cannot create the folder: ", ec.message()));
    }
    for (Child& c : children_) {
      std::string path = (std::filesystem::path(options_.log_dir) / (c.plan.name + ".log"));
      c.log_fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
      if (c.log_fd < 0) {
        return absl::PermissionDeniedError(
            absl::StrCat("--log-dir: cannot write ", path, ": ", strerror(errno)));
      }
    }
  }
  // Blocked before the first fork, so that no SIGCHLD or forwarded signal is missed.
  sigset_t mask;
  sigemptyset(&mask);
  for (int s : {SIGCHLD, SIGINT, SIGTERM, SIGHUP}) sigaddset(&mask, s);
  pthread_sigmask(SIG_BLOCK, &mask, &old_mask_);
  // A reader of our output that goes away must not kill the job: writes then fail with EPIPE.
  struct sigaction ignore {};
  ignore.sa_handler = SIG_IGN;
  sigaction(SIGPIPE, &ignore, &old_sigpipe_);
  mask_changed_ = true;
  signal_fd_ = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
  if (signal_fd_ < 0) {
    return absl::InternalError(absl::StrCat("signalfd: ", strerror(errno)));
  }
  return absl::OkStatus();
}

void Supervisor::SpawnAll() {
  for (Child& c : children_) {
    if (stopping_) break;
    auto process =
        ChildProcess::Spawn(options_.command, ChildEnvironment(options_.inherited_env, c.plan));
    if (!process.ok()) {
      first_failure_ = absl::StrCat(c.plan.name, " could not start: ", process.status().message());
      exit_code_ = absl::IsNotFound(process.status()) ? 127 : 126;
      // The reason follows in the final line; here only what is being undone.
      if (RunningNames() != "none") {
        Say(absl::StrCat(c.plan.name, " could not start; stopping ", RunningNames(), " (SIGTERM)"));
      }
      StopAll(SIGTERM);
      break;
    }
    c.process.emplace(*std::move(process));
    Say(absl::StrCat(c.plan.name, ": pid ", c.process->pid(), ", endpoint ", c.plan.endpoint));
  }
}

void Supervisor::Signal(Child& c, int signal) {
  c.stopped_by_us = true;
  c.process->SignalGroup(signal);
}

void Supervisor::StopAll(int signal) {
  stopping_ = true;
  for (Child& c : children_) {
    if (c.running()) Signal(c, signal);
  }
  if (!kill_deadline_) kill_deadline_ = Clock::now() + options_.stop_grace;
}

void Supervisor::HandleSignals() {
  signalfd_siginfo info;
  while (read(signal_fd_, &info, sizeof info) == static_cast<ssize_t>(sizeof info)) {
    int sig = static_cast<int>(info.ssi_signo);
    if (sig == SIGCHLD) {
      ReapAll();
      continue;
    }
    if (received_signal_ != 0) {
      Say(absl::StrCat("received ", SignalName(sig), " again; killing ", RunningNames(),
                       " (SIGKILL)"));
      StopAll(SIGKILL);
      continue;
    }
    received_signal_ = sig;
    if (first_failure_.empty()) exit_code_ = 128 + sig;
    Say(absl::StrCat("received ", SignalName(sig), "; forwarding it to ", RunningNames()));
    StopAll(sig);
  }
}

void Supervisor::ReapAll() {
  for (Child& c : children_) {
    if (!c.running()) continue;
    if (std::optional<ExitStatus> s = c.process->TryReap()) OnExit(c, *s);
  }
}

void Supervisor::OnExit(Child& c, ExitStatus status) {
  c.status = status;
  // Its last lines are in the pipes already: show them before the verdict.
  if (c.process->stdout_fd() >= 0) Read(c, false);
  if (c.process->stderr_fd() >= 0) Read(c, true);
  Say(absl::StrCat(c.Who(), " ", status.Describe()));
  if (stopping_ && c.stopped_by_us) return;
  if (!status.success()) {
    if (!first_failure_.empty() || received_signal_ != 0) return;
    first_failure_ = absl::StrCat(c.Who(), " failed first: ", status.Describe());
    exit_code_ = status.ShellCode();
    Say(absl::StrCat(first_failure_, "; stopping ", RunningNames(), " (SIGTERM)"));
    StopAll(SIGTERM);
    return;
  }
  // A server that ends with 0 while workers still run is the normal end of a parameter-server
  // job: servers end on the last worker's goodbye, a moment before that worker's own exit is
  // seen. Workers left without a server fail on their own deadlines.
  if (c.plan.kind == RoleKind::kWorker && Running(RoleKind::kWorker) == 0 &&
      Running(RoleKind::kServer) > 0 && !server_deadline_) {
    server_deadline_ = Clock::now() + options_.server_grace;
    Say(absl::StrCat("every worker finished; waiting up to ", Seconds(options_.server_grace),
                     " for ", RunningNames(), " to exit"));
  }
}

void Supervisor::Emit(Child& c, bool is_stderr, std::string_view text) {
  absl::string_view line(text.data(), text.size());
  WriteAll(is_stderr ? options_.err_fd : options_.out_fd,
           absl::StrCat("[", c.plan.name, "] ", line, "\n"));
  if (c.log_fd >= 0) WriteAll(c.log_fd, absl::StrCat(line, "\n"));
}

void Supervisor::Read(Child& c, bool is_stderr) {
  int fd = is_stderr ? c.process->stderr_fd() : c.process->stdout_fd();
  if (fd < 0) return;
  LineBuffer& buffer = is_stderr ? c.err : c.out;
  auto emit = [&](std::string_view line) { Emit(c, is_stderr, line); };
  char data[64 * 1024];
  // A bounded number of reads per call keeps one chatty child from starving the others.
  for (int i = 0; i < 16; ++i) {
    ssize_t n = read(fd, data, sizeof data);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return;
    if (n <= 0) {  // end of file, or an error that ends the stream the same way
      buffer.Flush(emit);
      is_stderr ? c.process->CloseStderr() : c.process->CloseStdout();
      return;
    }
    buffer.Append(std::string_view(data, static_cast<size_t>(n)), emit);
  }
}

void Supervisor::CheckDeadlines() {
  Clock::time_point now = Clock::now();
  if (server_deadline_ && now >= *server_deadline_) {
    server_deadline_.reset();
    if (!stopping_ && Running(RoleKind::kServer) > 0) {
      servers_stopped_ = true;
      Say(absl::StrCat(RunningNames(), " still running ", Seconds(options_.server_grace),
                       " after the last worker finished; stopping (SIGTERM)"));
      StopAll(SIGTERM);
    }
  }
  if (kill_deadline_ && now >= *kill_deadline_) {
    kill_deadline_.reset();
    for (Child& c : children_) {
      if (!c.running()) continue;
      Say(absl::StrCat(c.Who(), " still running ", Seconds(options_.stop_grace),
                       " after SIGTERM; sending SIGKILL"));
      Signal(c, SIGKILL);
    }
  }
}

void Supervisor::Finish() {
  // Whatever the children left in their groups goes with them.
  for (Child& c : children_) {
    if (c.process) c.process->SignalGroup(SIGKILL);
  }
  Clock::time_point deadline = Clock::now() + kDrainDeadline;
  while (true) {
    std::vector<pollfd> fds;
    std::vector<std::pair<Child*, bool>> owners;
    for (Child& c : children_) {
      if (!c.process) continue;
      for (bool is_stderr : {false, true}) {
        int fd = is_stderr ? c.process->stderr_fd() : c.process->stdout_fd();
        if (fd < 0) continue;
        fds.push_back({fd, POLLIN, 0});
        owners.emplace_back(&c, is_stderr);
      }
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (fds.empty() || left.count() <= 0) break;
    if (poll(fds.data(), fds.size(), static_cast<int>(left.count())) < 0 && errno != EINTR) break;
    for (size_t i = 0; i < fds.size(); ++i) {
      if (fds[i].revents != 0) Read(*owners[i].first, owners[i].second);
    }
  }
  for (Child& c : children_) {
    auto flush = [&](bool is_stderr) {
      (is_stderr ? c.err : c.out).Flush([&](std::string_view l) { Emit(c, is_stderr, l); });
    };
    flush(false);
    flush(true);
  }
}

absl::StatusOr<int> Supervisor::Run() {
  absl::Status setup = Setup();
  if (!setup.ok()) return setup;
  SpawnAll();
  while (
      std::any_of(children_.begin(), children_.end(), [](const Child& c) { return c.running(); })) {
    std::vector<pollfd> fds{{signal_fd_, POLLIN, 0}};
    std::vector<std::pair<Child*, bool>> owners{{nullptr, false}};
    for (Child& c : children_) {
      if (!c.process) continue;
      for (bool is_stderr : {false, true}) {
        int fd = is_stderr ? c.process->stderr_fd() : c.process->stdout_fd();
        if (fd < 0) continue;
        fds.push_back({fd, POLLIN, 0});
        owners.emplace_back(&c, is_stderr);
      }
    }
    int timeout_ms = -1;  // no deadline pending: the children's ends and signals wake us
    for (const auto& d : {server_deadline_, kill_deadline_}) {
      if (!d) continue;
      auto left = std::chrono::ceil<std::chrono::milliseconds>(*d - Clock::now()).count();
      int ms = static_cast<int>(std::max<int64_t>(0, left));
      timeout_ms = timeout_ms < 0 ? ms : std::min(timeout_ms, ms);
    }
    int ready = poll(fds.data(), fds.size(), timeout_ms);
    if (ready < 0 && errno != EINTR) {
      Say(absl::StrCat("error: poll: ", strerror(errno), "; stopping every child"));
      if (exit_code_ == 0) exit_code_ = 1;
      StopAll(SIGKILL);
      break;
    }
    for (size_t i = 1; ready > 0 && i < fds.size(); ++i) {
      if (fds[i].revents != 0) Read(*owners[i].first, owners[i].second);
    }
    if (ready > 0 && fds[0].revents != 0) HandleSignals();
    CheckDeadlines();
  }
  Finish();
  if (!first_failure_.empty()) {
    Say(absl::StrCat("job failed: ", first_failure_, "; exit code ", exit_code_));
  } else if (received_signal_ != 0) {
    Say(absl::StrCat("job stopped by ", SignalName(received_signal_), "; exit code ", exit_code_));
  } else {
    int workers =
        static_cast<int>(std::count_if(children_.begin(), children_.end(), [](const Child& c) {
          return c.plan.kind == RoleKind::kWorker;
        }));
    Say(absl::StrCat("job succeeded: ", Plural(workers, "worker"), " exited with code 0",
                     servers_stopped_ ? "; servers had to be stopped" : ""));
  }
  return exit_code_;
}

}  // namespace

absl::StatusOr<int> Supervise(const LaunchPlan& plan, const SupervisorOptions& options) {
  Supervisor supervisor(plan, options);
  return supervisor.Run();
}

}  // namespace fleet::launch
