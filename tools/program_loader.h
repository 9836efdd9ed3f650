// Loads what a user points a tool at: a job folder, an ONNX model (imported), or a Fleet program
// or job file.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "ir/job.h"
#include "ir/program.h"

namespace fleet {

// A job folder (ir/job_file.h) is read through its manifest. ".onnx" files are imported as a
// job of one program, "main". Other files are Fleet files: a text job or program (ir/job_text.h;
// it starts with `# program "NAME"` or `fleet.program` after any blank or `#` comment lines) or
// a binary program file, which becomes the job's main program.
absl::StatusOr<Job> LoadJob(const std::string& path);

// LoadJob(path)'s main program: the program of a single-program file or model, or the main
// program of a job.
absl::StatusOr<Program> LoadProgram(const std::string& path);

}  // namespace fleet
