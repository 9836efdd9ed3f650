// TextLines: line index over mapped text files; ListDataFiles: the files of a data path.
#include "executor/data/text_lines.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <limits>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "ir/status_macros.h"

namespace fleet {

absl::StatusOr<TextLines> TextLines::Open(const std::vector<std::string>& paths) {
  TextLines result;
  for (const std::string& path : paths) {
    FLEET_ASSIGN_OR_RETURN(std::shared_ptr<MappedFile> file, MappedFile::Open(path));
    const int32_t file_index = static_cast<int32_t>(result.files_.size());
    const char* data = file->data();
    const size_t size = file->size();
    size_t pos = 0;
    int64_t line = 0;
    while (pos < size) {
      ++line;
      const void* nl = std::memchr(data + pos, '\n', size - pos);
      size_t end = nl == nullptr ? size : static_cast<size_t>(static_cast<const char*>(nl) - data);
      size_t stop = end;
      if (stop > pos && data[stop - 1] == '\r') --stop;
      if (stop - pos > static_cast<size_t>(std::numeric_limits<int32_t>::max())) {
        return absl::InvalidArgumentError(
            absl::StrCat(path, ":", line, ": line is longer than 2 GiB"));
      }
      if (stop > pos) {
        result.lines_.push_back(
            LineRef{static_cast<int64_t>(pos), line, static_cast<int32_t>(stop - pos), file_index});
      }
      pos = end + 1;
    }
    result.files_.push_back(std::move(file));
  }
  return result;
}

absl::string_view TextLines::Line(int64_t i) const {
  const LineRef& ref = lines_[static_cast<size_t>(i)];
  return absl::string_view(files_[static_cast<size_t>(ref.file)]->data() + ref.offset,
                           static_cast<size_t>(ref.length));
}

std::string TextLines::Where(int64_t i) const {
  const LineRef& ref = lines_[static_cast<size_t>(i)];
  return absl::StrCat(files_[static_cast<size_t>(ref.file)]->path(), ":", ref.line);
}

absl::StatusOr<std::vector<std::string>> ListDataFiles(const std::string& path,
                                                       const std::vector<std::string>& suffixes) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::is_regular_file(path, ec)) return std::vector<std::string>{path};
  if (!fs::is_directory(path, ec)) {
    return absl::NotFoundError(absl::StrCat(path, ": no such file or directory"));
  }
  std::vector<std::string> files;
  for (const fs::directory_entry& entry : fs::directory_iterator(path, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || name[0] == '.' || !entry.is_regular_file(ec)) continue;
    bool match = suffixes.empty();
    for (const std::string& suffix : suffixes) match = match || absl::EndsWith(name, suffix);
    if (match) files.push_back(entry.path().string());
  }
  if (ec) return absl::InternalError(absl::StrCat(path, ": cannot list: ", ec.message()));
  std::sort(files.begin(), files.end());
  if (files.empty()) {
    std::string which = suffixes.empty() ? "files" : absl::StrCat("files ending in ", suffixes[0]);
    for (size_t i = 1; i < suffixes.size(); ++i) absl::StrAppend(&which, " or ", suffixes[i]);
    return absl::InvalidArgumentError(absl::StrCat(path, ": directory holds no data ", which));
  }
  return files;
}

}  // namespace fleet
