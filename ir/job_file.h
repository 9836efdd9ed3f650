// Job folders: a job on disk is one folder holding one program file per program and a manifest
// that says which file is which program.
//
//   job/
//     manifest.pbtxt      the manifest (fleet.proto.JobManifest, ir/job.proto), protobuf text
//     main.program        one binary program file per program (ir/serialize.h), NAME.program
//     startup.program
//
// The manifest is protobuf *text*: it is a few lines, a person or a script reads it to find
// which file to run (`cat job/manifest.pbtxt`), and a parse error points at a line and column.
// The programs themselves stay binary, because they carry the parameters' bytes.
//
// Writing never leaves a half-written job that reads as complete: the old manifest is removed
// first, then every program file is written (each atomically), stale NAME.program files of an
// earlier job in the same folder are removed, and the manifest is written last (atomically).
// A job folder without a manifest is therefore either not a job or one still being written.
//
// Reading checks the manifest (format, version, names, roles, file names, duplicates) and the
// folder (a listed file that is missing, a *.program file the manifest does not list), then
// reads each program; every error names the folder or the file. Program files may be binary or,
// for hand-written jobs, in the text form (ir/text_format.h).
// The functions are thread-compatible: concurrent writers to one folder are not supported.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "ir/job.h"

namespace fleet {

inline constexpr char kJobManifestFile[] = "manifest.pbtxt";
inline constexpr char kJobFormat[] = "fleet.job";
inline constexpr uint32_t kJobManifestVersion = 1;
inline constexpr char kProgramFileSuffix[] = ".program";

// The file a program is written to inside its job folder: "main" -> "main.program".
std::string ProgramFileName(std::string_view program);

// Writes `job` (ValidateJob must pass) into folder `dir`, creating it when needed, in the order
// described above. Errors name the file that could not be written or removed.
absl::Status WriteJobDir(const Job& job, const std::string& dir);

// Reads the job in folder `dir`. NOT_FOUND when `dir` is not a folder, has no manifest, or a
// listed program file is missing; INVALID_ARGUMENT for a bad manifest ("job/manifest.pbtxt:4:9:
// error: ..."), a *.program file the manifest does not list, or a bad program file. The
// programs' Program::source is their file's path.
absl::StatusOr<Job> ReadJobDir(const std::string& dir);

// True when `bytes` look like the text form of a program or job: `fleet.program` after any
// blank or `#` comment lines. Otherwise they are taken for a binary program file.
bool IsProgramText(std::string_view bytes);

// Parses the bytes of a program file, binary (ir/serialize.h) or text (ir/text_format.h): the
// text form starts with `fleet.program` after any blank or `#` comment lines. `filename`
// prefixes errors and becomes Program::source.
absl::StatusOr<Program> ParseProgramFileBytes(std::string_view bytes, std::string_view filename);

}  // namespace fleet
