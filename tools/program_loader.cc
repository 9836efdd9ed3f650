#include "tools/program_loader.h"

#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "ir/onnx/importer.h"
#include "ir/serialize.h"
#include "ir/text_format.h"

namespace fleet {

absl::StatusOr<Program> LoadProgram(const std::string& path) {
  if (absl::EndsWith(path, ".onnx")) return ImportOnnxFile(path);
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot open file"));
  std::stringstream buffer;
  buffer << in.rdbuf();
  std::string bytes = buffer.str();
  // The text form starts with its header line; anything else is read as a binary program.
  size_t start = bytes.find_first_not_of(" \t\r\n");
  if (start != std::string::npos && bytes.compare(start, 13, "fleet.program") == 0) {
    return ParseProgramText(bytes, path);
  }
  return ParseProgramBinary(bytes, path);
}

}  // namespace fleet
