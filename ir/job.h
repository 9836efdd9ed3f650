// A job: the named programs one training run needs, e.g. the main (trainer) program, its startup
// program, and later one program (and one startup program) per parameter server.
//
//   Job job(std::move(program));                     // a job of one program, "main"
//   job.programs[kStartupProgram] = std::move(startup);
//   for (auto& [name, program] : job.programs) ...   // in name order
//
// Like Program, a Job is plain data that passes edit directly. Program names are file-name safe
// ([A-Za-z0-9_.-], not starting with '.') because each program is written as NAME.program in the
// job folder (ir/job_file.h); the well-known names below say what a program is for, and
// ProgramRoleOf derives its role from its name. ValidateJob checks the names and that the main
// program exists; the readers (ir/job_file.h, ir/job_text.h) and the PassManager call it.
// A Job is not thread-safe: one writer at a time.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "ir/program.h"

namespace fleet {

// The program a trainer runs every step (forward, backward, optimizer). Every job has one.
inline constexpr char kMainProgram[] = "main";
// The program the trainer runs once before the first step of `main`.
inline constexpr char kStartupProgram[] = "startup";
// The program every trainer runs right before a checkpoint is written, when the job has one:
// the reduce mode's broadcasts of each owner's optimizer state, so that the worker that writes
// the checkpoint holds every parameter's current state (passes/distributed/allreduce.cc).
inline constexpr char kCheckpointSyncProgram[] = "checkpoint_sync";
// Server programs are "pserver.0", "pserver.1", ...; their startup programs add this suffix:
// "pserver.0.startup".
inline constexpr char kServerProgramPrefix[] = "pserver.";
inline constexpr char kStartupSuffix[] = ".startup";

// What a program of a job is for. Values match fleet.proto.JobProgram.Role (ir/job.proto).
enum class ProgramRole : int {
  kMain = 1,     // "main": run every step by each trainer
  kStartup = 2,  // "startup" or "<program>.startup": run once before its program
  kServer = 3,   // "pserver.<i>": run by parameter server i
  kOther = 4,    // any other name: carried along (fleet-run runs kCheckpointSyncProgram)
};

// "pserver.3".
std::string ServerProgramName(int server);
// The startup program of `program`: "startup" for "main", "pserver.0.startup" for "pserver.0".
std::string StartupProgramNameOf(std::string_view program);
// The role a program's name gives it.
ProgramRole ProgramRoleOf(std::string_view name);
// "main", "startup", "server", "other".
std::string_view ProgramRoleName(ProgramRole role);

// OK when `name` can name a program (and its file): non-empty, at most 100 characters of
// [A-Za-z0-9_.-], not starting with '.'. INVALID_ARGUMENT otherwise, quoting the name.
absl::Status ValidateProgramName(std::string_view name);

struct Job {
  Job() = default;
  // A job whose only program is `main`, named kMainProgram.
  explicit Job(Program main);

  // Programs by name, in name order (so "main" comes before "pserver.0" and "startup").
  std::map<std::string, Program, std::less<>> programs;

  // The main program; an empty one is added when the job has none (as map::operator[] does).
  Program& main() { return programs[kMainProgram]; }
  // The main program, or nullptr when the job has none.
  const Program* FindMain() const { return Find(kMainProgram); }
  // The named program, or nullptr.
  Program* Find(std::string_view name);
  const Program* Find(std::string_view name) const;
};

// Checks what every job must hold: a main program, and only valid program names.
// INVALID_ARGUMENT naming `where` (a folder or file, or "job" when empty) and the program.
absl::Status ValidateJob(const Job& job, std::string_view where = "");

}  // namespace fleet
