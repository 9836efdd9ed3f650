// Loading a job or program from a folder, an .onnx model, or a text or binary Fleet file.
#include "tools/program_loader.h"

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string_view>
#include <system_error>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "ir/job_file.h"
#include "ir/job_text.h"
#include "ir/onnx/importer.h"
#include "ir/serialize.h"
#include "ir/status_macros.h"

namespace fleet {

absl::StatusOr<Job> LoadJob(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) return ReadJobDir(path);
  if (absl::EndsWith(path, ".onnx")) {
    FLEET_ASSIGN_OR_RETURN(Program program, ImportOnnxFile(path));
    return Job(std::move(program));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot open file"));
  std::stringstream buffer;
  buffer << in.rdbuf();
  std::string bytes = buffer.str();
  if (IsProgramText(bytes)) return ParseJobText(bytes, path);
  FLEET_ASSIGN_OR_RETURN(Program program, ParseProgramBinary(bytes, path));
  return Job(std::move(program));
}

absl::StatusOr<Program> LoadProgram(const std::string& path) {
  FLEET_ASSIGN_OR_RETURN(Job job, LoadJob(path));
  return std::move(job.main());
}

}  // namespace fleet
