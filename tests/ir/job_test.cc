// Jobs: program names and roles, the job text form, and job folders (manifest + program files):
// round trips that keep every byte, and every way a folder can be wrong.
#include "ir/job.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "ir/job_file.h"
#include "ir/job_text.h"
#include "ir/serialize.h"
#include "ir/text_format.h"
#include "tests/ir/program_fixtures.h"

namespace fleet {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using testing_util::MakeEveryFeatureProgram;

// A fresh, empty folder for one test.
std::string TempDir(const std::string& name) {
  fs::path dir = fs::path(::testing::TempDir()) / ("fleet_job_test_" + name);
  fs::remove_all(dir);
  return dir.string();
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

Program Small(const std::string& role) {
  Program p;
  p.meta.opset = 17;
  p.meta.role = role;
  Var v;
  v.name = "x";
  v.dtype = DataType::kF32;
  v.shape = std::vector<int64_t>{2};
  v.flags = kVarPersistable;
  p.main().AddVar(v);
  return p;
}

// main (every feature of the IR, value bytes included), startup, a server and its startup.
Job FourPrograms() {
  Job job(MakeEveryFeatureProgram());
  job.programs[kStartupProgram] = Small("startup");
  job.programs[ServerProgramName(0)] = Small("pserver");
  job.programs[StartupProgramNameOf(ServerProgramName(0))] = Small("startup");
  return job;
}

void ExpectSameBytes(const Job& a, const Job& b) {
  ASSERT_EQ(a.programs.size(), b.programs.size());
  for (const auto& [name, program] : a.programs) {
    const Program* other = b.Find(name);
    ASSERT_NE(other, nullptr) << name;
    EXPECT_EQ(SerializeProgram(program), SerializeProgram(*other)) << name;
  }
}

TEST(JobTest, NamesAndRoles) {
  EXPECT_EQ(ServerProgramName(3), "pserver.3");
  EXPECT_EQ(StartupProgramNameOf(kMainProgram), "startup");
  EXPECT_EQ(StartupProgramNameOf("pserver.0"), "pserver.0.startup");
  EXPECT_EQ(ProgramRoleOf("main"), ProgramRole::kMain);
  EXPECT_EQ(ProgramRoleOf("startup"), ProgramRole::kStartup);
  EXPECT_EQ(ProgramRoleOf("pserver.0.startup"), ProgramRole::kStartup);
  EXPECT_EQ(ProgramRoleOf("pserver.12"), ProgramRole::kServer);
  EXPECT_EQ(ProgramRoleOf("pserver.x"), ProgramRole::kOther);
  EXPECT_EQ(ProgramRoleOf("eval"), ProgramRole::kOther);
  EXPECT_TRUE(ValidateProgramName("pserver.0.startup").ok());
  for (const char* bad : {"", ".hidden", "a/b", "a b", "../x"}) {
    absl::Status s = ValidateProgramName(bad);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(std::string(s.message()), HasSubstr("bad program name")) << bad;
  }
  Job no_main;
  no_main.programs[kStartupProgram] = Program();
  absl::Status s = ValidateJob(no_main, "j");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("j: the job has no program \"main\""));
}

// ---- text form ----

TEST(JobTextTest, RoundTripsEveryProgram) {
  Job job = FourPrograms();
  std::string text = PrintJob(job);
  EXPECT_THAT(text, HasSubstr("# program \"main\"\nfleet.program v2"));
  EXPECT_THAT(text, HasSubstr("# program \"pserver.0.startup\"\n"));
  absl::StatusOr<Job> back = ParseJobText(text, "job.txt");
  ASSERT_TRUE(back.ok()) << back.status();
  ASSERT_EQ(back->programs.size(), 4u);
  for (const auto& [name, program] : job.programs) {
    ASSERT_NE(back->Find(name), nullptr) << name;
    EXPECT_EQ(PrintProgram(*back->Find(name)), PrintProgram(program)) << name;
  }
  EXPECT_EQ(PrintJob(*back), text);
}

TEST(JobTextTest, APlainProgramIsTheMainProgram) {
  std::string text = PrintProgram(Small("trainer"));
  absl::StatusOr<Job> job = ParseJobText("# a comment\n" + text, "p.txt");
  ASSERT_TRUE(job.ok()) << job.status();
  ASSERT_EQ(job->programs.size(), 1u);
  ASSERT_NE(job->FindMain(), nullptr);
  EXPECT_EQ(PrintProgram(*job->FindMain()), text);
  EXPECT_EQ(PrintJob(*job), "# program \"main\"\n" + text);
}

TEST(JobTextTest, ErrorsNameTheLine) {
  const std::string p = PrintProgram(Small(""));
  auto error = [](const std::string& text) {
    absl::StatusOr<Job> job = ParseJobText(text, "j.txt");
    EXPECT_FALSE(job.ok());
    EXPECT_EQ(job.status().code(), absl::StatusCode::kInvalidArgument);
    return std::string(job.status().message());
  };
  EXPECT_EQ(error("# program \"main\"\n" + p + "# program \"main\"\n" + p),
            "j.txt:6:1: error: program \"main\" appears twice (first on line 1)");
  EXPECT_THAT(error("# program \"main\n" + p),
              HasSubstr("j.txt:1:1: error: malformed program header"));
  EXPECT_THAT(error("# program \"a b\"\n" + p), HasSubstr("j.txt:1:1: error: bad program name"));
  EXPECT_THAT(error(p + "# program \"startup\"\n" + p),
              HasSubstr("j.txt:1:1: error: text before the first program header"));
  EXPECT_THAT(error("# program \"startup\"\n" + p), HasSubstr("has no program \"main\""));
  // A program's own syntax error has the line of the whole text.
  EXPECT_THAT(error("# program \"main\"\n" + p + "# program \"startup\"\nfleet.program v1\nblock"),
              HasSubstr("j.txt:8:6: error: expected an integer after 'block'"));
}

// ---- folders ----

TEST(JobFileTest, WriteThenReadGivesTheSameBytes) {
  const std::string dir = TempDir("round_trip");
  Job job = FourPrograms();
  ASSERT_TRUE(WriteJobDir(job, dir).ok());
  for (const char* file : {"manifest.pbtxt", "main.program", "startup.program", "pserver.0.program",
                           "pserver.0.startup.program"}) {
    EXPECT_TRUE(fs::exists(fs::path(dir) / file)) << file;
  }
  // The manifest is readable text naming each program's file and role.
  std::string manifest = ReadFile(dir + "/manifest.pbtxt");
  EXPECT_THAT(manifest, HasSubstr("format: \"fleet.job\""));
  EXPECT_THAT(manifest,
              HasSubstr("name: \"pserver.0\"\n  file: \"pserver.0.program\"\n  role: SERVER"));
  EXPECT_THAT(manifest,
              HasSubstr("name: \"startup\"\n  file: \"startup.program\"\n  role: STARTUP"));
  absl::StatusOr<Job> back = ReadJobDir(dir);
  ASSERT_TRUE(back.ok()) << back.status();
  ExpectSameBytes(job, *back);
  // Value bytes survive (the text form would drop them).
  EXPECT_EQ(back->Find(kMainProgram)->values.at("fc1.w"), job.main().values.at("fc1.w"));
  EXPECT_EQ(back->Find(kStartupProgram)->source, dir + "/startup.program");
  // Each program file is an ordinary program file.
  absl::StatusOr<Program> main = ReadProgramFile(dir + "/main.program");
  ASSERT_TRUE(main.ok()) << main.status();
  EXPECT_EQ(SerializeProgram(*main), SerializeProgram(job.main()));
}

TEST(JobFileTest, RewritingAFolderReplacesTheOldJob) {
  const std::string dir = TempDir("rewrite");
  ASSERT_TRUE(WriteJobDir(FourPrograms(), dir).ok());
  Job smaller(Small("trainer"));
  ASSERT_TRUE(WriteJobDir(smaller, dir).ok());
  EXPECT_FALSE(fs::exists(dir + "/pserver.0.program"));
  EXPECT_FALSE(fs::exists(dir + "/startup.program"));
  absl::StatusOr<Job> back = ReadJobDir(dir);
  ASSERT_TRUE(back.ok()) << back.status();
  ExpectSameBytes(smaller, *back);
  // Nothing else is left behind, temporary files included.
  int files = 0;
  for (const auto& e : fs::directory_iterator(dir)) files += e.is_regular_file() ? 1 : 0;
  EXPECT_EQ(files, 2);
}

TEST(JobFileTest, HandWrittenTextProgramFilesRead) {
  const std::string dir = TempDir("text_files");
  ASSERT_TRUE(WriteJobDir(Job(Small("trainer")), dir).ok());
  WriteFile(dir + "/main.program", "# hand-written\n" + PrintProgram(Small("edited")));
  absl::StatusOr<Job> back = ReadJobDir(dir);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->Find(kMainProgram)->meta.role, "edited");
}

// A written two-program job whose manifest the test then replaces.
std::string JobWithManifest(const std::string& name, const std::string& manifest) {
  const std::string dir = TempDir(name);
  Job job(Small("trainer"));
  job.programs[kStartupProgram] = Small("startup");
  EXPECT_TRUE(WriteJobDir(job, dir).ok());
  if (!manifest.empty()) WriteFile(dir + "/manifest.pbtxt", manifest);
  return dir;
}

absl::Status ReadError(const std::string& dir) {
  absl::StatusOr<Job> job = ReadJobDir(dir);
  EXPECT_FALSE(job.ok());
  return job.status();
}

constexpr char kGoodEntries[] =
    "programs { name: \"main\" file: \"main.program\" role: MAIN }\n"
    "programs { name: \"startup\" file: \"startup.program\" role: STARTUP }\n";

TEST(JobFileTest, MissingFolderOrManifest) {
  absl::Status s = ReadError(TempDir("nothing_here"));
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("nothing_here: not a job folder (no such folder)"));
  const std::string dir = JobWithManifest("no_manifest", "");
  fs::remove(dir + "/manifest.pbtxt");
  s = ReadError(dir);
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("no_manifest: not a job folder: it has no manifest.pbtxt"));
}

TEST(JobFileTest, CorruptManifestNamesTheLine) {
  const std::string dir =
      JobWithManifest("corrupt", "format: \"fleet.job\"\nversion: 1\nprograms { name: \"main\" ");
  absl::Status s = ReadError(dir);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr(dir + "/manifest.pbtxt:3:"));
  EXPECT_THAT(std::string(s.message()), HasSubstr(": error: "));
  s = ReadError(JobWithManifest("unknown_field", "format: \"fleet.job\"\nversion: 1\nnope: 2\n"));
  EXPECT_THAT(std::string(s.message()), HasSubstr("manifest.pbtxt:3:5: error: "));
  EXPECT_THAT(std::string(s.message()), HasSubstr("nope"));
}

TEST(JobFileTest, ManifestChecks) {
  struct Case {
    const char* name;
    std::string manifest;
    const char* expected;
  };
  const std::string head = "format: \"fleet.job\"\nversion: 1\n";
  const std::vector<Case> cases = {
      {"format", std::string("format: \"other\"\nversion: 1\n") + kGoodEntries,
       "manifest.pbtxt: error: format \"other\"; expected \"fleet.job\""},
      {"version", std::string("format: \"fleet.job\"\nversion: 7\n") + kGoodEntries,
       "manifest.pbtxt: error: version 7; this Fleet reads version 1"},
      {"duplicate",
       head + kGoodEntries + "programs { name: \"main\" file: \"other.program\" role: MAIN }\n",
       "manifest.pbtxt:5:12: error: program \"main\" is listed twice"},
      {"same_file",
       head + "programs { name: \"main\" file: \"main.program\" role: MAIN }\n"
              "programs { name: \"startup\" file: \"main.program\" role: STARTUP }\n",
       "manifest.pbtxt:4:28: error: file \"main.program\" holds both program \"main\" and "
       "\"startup\""},
      {"escape", head + "programs { name: \"main\" file: \"../main.program\" role: MAIN }\n",
       "manifest.pbtxt:3:25: error: program \"main\" has file \"../main.program\"; expected a "
       "file name inside the job folder"},
      {"bad_name", head + "programs { name: \"a b\" file: \"x.program\" role: OTHER }\n",
       "manifest.pbtxt:3:12: error: bad program name \"a b\""},
      {"role", head + "programs { name: \"main\" file: \"main.program\" role: STARTUP }\n",
       "manifest.pbtxt:3:46: error: program \"main\" has role STARTUP; its name makes it MAIN"},
  };
  for (const Case& c : cases) {
    absl::Status s = ReadError(JobWithManifest(std::string("check_") + c.name, c.manifest));
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << c.name;
    EXPECT_THAT(std::string(s.message()), HasSubstr(c.expected)) << c.name;
  }
  const std::string dir = JobWithManifest(
      "check_no_main",
      head + "programs { name: \"startup\" file: \"startup.program\" role: STARTUP }\n");
  fs::remove(dir + "/main.program");
  absl::Status s = ReadError(dir);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()),
              HasSubstr(dir + "/manifest.pbtxt: the job has no program \"main\""));
}

TEST(JobFileTest, MissingExtraAndBadProgramFiles) {
  std::string dir = JobWithManifest("missing_file", "");
  fs::remove(dir + "/startup.program");
  absl::Status s = ReadError(dir);
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(s.message()),
              HasSubstr(dir + "/startup.program: missing: " + dir + "/manifest.pbtxt:"));
  EXPECT_THAT(std::string(s.message()), HasSubstr("lists it for program \"startup\""));

  dir = JobWithManifest("extra_file", "");
  ASSERT_TRUE(WriteProgramFile(Small(""), dir + "/stale.program").ok());
  s = ReadError(dir);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(
      std::string(s.message()),
      HasSubstr(dir + "/stale.program: program file not listed in " + dir + "/manifest.pbtxt"));

  dir = JobWithManifest("bad_program", "");
  WriteFile(dir + "/startup.program", std::string("\x0a\x03zzz", 5));
  s = ReadError(dir);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr(dir + "/startup.program: "));
}

TEST(JobFileTest, WritingAnInvalidJobWritesNothing) {
  const std::string dir = TempDir("invalid");
  Job job;
  job.programs["startup"] = Program();
  absl::Status s = WriteJobDir(job, dir);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("has no program \"main\""));
  EXPECT_FALSE(fs::exists(dir));
}

}  // namespace
}  // namespace fleet
