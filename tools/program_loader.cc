#include "tools/program_loader.h"

#include <fstream>
#include <sstream>
#include <string_view>

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
  // The text form starts with its header line, after any blank or `#` comment lines (golden
  // test files start with their RUN lines); anything else is read as a binary program.
  size_t start = bytes.find_first_not_of(" \t\r\n");
  while (start != std::string::npos && bytes[start] == '#') {
    size_t eol = bytes.find('\n', start);
    start = eol == std::string::npos ? eol : bytes.find_first_not_of(" \t\r\n", eol);
  }
  // A binary file starts with the same magic, encoded as a protobuf field ("\x0a\x0d" and
  // then the magic, which the whitespace skip above steps over), but followed by a field tag:
  // the text header is followed by whitespace.
  constexpr size_t kMagicLen = sizeof(kProgramMagic) - 1;
  bool text = start != std::string::npos && bytes.compare(start, kMagicLen, kProgramMagic) == 0 &&
              (start + kMagicLen == bytes.size() ||
               std::string_view(" \t\r\n").find(bytes[start + kMagicLen]) != std::string::npos);
  if (text) {
    return ParseProgramText(bytes, path);
  }
  return ParseProgramBinary(bytes, path);
}

}  // namespace fleet
