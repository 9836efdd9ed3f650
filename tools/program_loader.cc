#include "tools/program_loader.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "ir/onnx/importer.h"

namespace fleet {

absl::StatusOr<Program> LoadProgram(const std::string& path) {
  if (absl::EndsWith(path, ".onnx")) return ImportOnnxFile(path);
  return absl::UnimplementedError(
      absl::StrCat(path, ": not an .onnx file; Fleet program files are read by a later step"));
}

}  // namespace fleet
