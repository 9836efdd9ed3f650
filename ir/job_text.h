// The text form of a job, for tools and golden tests: each program in its own text form
// (ir/text_format.h) under a header line naming it.
//
//   # program "main"
//   fleet.program v1 opset=17 ...
//   block 0 { ... }
//   # program "startup"
//   fleet.program v1 opset=17 role="startup"
//   block 0 { ... }
//
// The header is a comment to the program parser, so a one-program job text is also a program
// text. Like the program text form, the job text form does not carry value bytes.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "ir/job.h"

namespace fleet {

// `# program "NAME"`: the line that starts each program of a job text.
std::string ProgramHeader(std::string_view name);

// Every program of `job`, in name order, each under its header; deterministic.
std::string PrintJob(const Job& job);

// Parses a job text: programs under `# program "NAME"` headers, or a plain program text (no
// header), which becomes a job whose only program is "main". Blank and `#` comment lines may
// precede the first header. Errors are INVALID_ARGUMENT "FILE:LINE:COL: error: WHAT" with line
// numbers of the whole text: a malformed header, a bad or repeated program name, other text
// before the first header, a program that does not parse, and a job without "main"
// (ValidateJob).
absl::StatusOr<Job> ParseJobText(std::string_view text, std::string_view filename);

}  // namespace fleet
