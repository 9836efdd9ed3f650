// Job text form: printing each program under `# program "NAME"`, and splitting a job text back
// into programs with line numbers kept (ir/job_text.h).
#include "ir/job_text.h"

#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "ir/status_macros.h"
#include "ir/text_format.h"

namespace fleet {
namespace {

constexpr absl::string_view kHeaderStart = "# program \"";

absl::Status ErrorAt(const std::string& file, int line, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(file, ":", line, ":1: error: ", what));
}

// One program of the text: its name and its lines, preceded by blank lines so that the
// program parser's line numbers are those of the whole text.
struct Section {
  std::string name;
  int header_line = 0;
  std::string text;
};

}  // namespace

std::string ProgramHeader(std::string_view name) {
  return absl::StrCat(kHeaderStart, std::string(name), "\"");
}

std::string PrintJob(const Job& job) {
  std::string out;
  for (const auto& [name, program] : job.programs) {
    absl::StrAppend(&out, ProgramHeader(name), "\n", PrintProgram(program));
  }
  return out;
}

absl::StatusOr<Job> ParseJobText(std::string_view job_text, std::string_view filename) {
  const absl::string_view text(job_text.data(), job_text.size());
  const std::string file(filename);
  std::vector<Section> sections;
  std::string preamble;  // what precedes the first header
  const std::vector<absl::string_view> lines = absl::StrSplit(text, '\n');
  int line_no = 0;
  for (absl::string_view line : lines) {
    ++line_no;
    absl::string_view stripped = absl::StripAsciiWhitespace(line);
    if (absl::StartsWith(stripped, kHeaderStart)) {
      absl::string_view name = stripped.substr(kHeaderStart.size());
      if (name.empty() || name.back() != '"') {
        return ErrorAt(
            file, line_no,
            absl::StrCat("malformed program header '", stripped, "'; expected # program \"NAME\""));
      }
      name.remove_suffix(1);
      absl::Status valid = ValidateProgramName(std::string(name));
      if (!valid.ok()) return ErrorAt(file, line_no, valid.message());
      for (const Section& s : sections) {
        if (s.name == name) {
          return ErrorAt(file, line_no,
                         absl::StrCat("program \"", name, "\" appears twice (first on line ",
                                      s.header_line, ")"));
        }
      }
      sections.push_back({std::string(name), line_no, std::string(line_no, '\n')});
      continue;
    }
    std::string& into = sections.empty() ? preamble : sections.back().text;
    into.append(line.data(), line.size());
    if (line_no < static_cast<int>(lines.size())) into += '\n';  // as in `text`
  }

  Job job;
  if (sections.empty()) {
    FLEET_ASSIGN_OR_RETURN(Program main, ParseProgramText(job_text, filename));
    job.programs.emplace(kMainProgram, std::move(main));
  } else {
    // Only blank and comment lines may come before the first header.
    int preamble_line = 0;
    for (absl::string_view line : absl::StrSplit(preamble, '\n')) {
      ++preamble_line;
      absl::string_view stripped = absl::StripAsciiWhitespace(line);
      if (!stripped.empty() && stripped[0] != '#') {
        return ErrorAt(
            file, preamble_line,
            absl::StrCat("text before the first program header (", ProgramHeader(sections[0].name),
                         " on line ", sections[0].header_line, ")"));
      }
    }
    for (Section& s : sections) {
      FLEET_ASSIGN_OR_RETURN(Program program, ParseProgramText(s.text, filename));
      job.programs.emplace(std::move(s.name), std::move(program));
    }
  }
  FLEET_RETURN_IF_ERROR(ValidateJob(job, filename));
  return job;
}

}  // namespace fleet
