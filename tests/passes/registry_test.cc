// Tests of the pass registry: built-ins, name lookup with hints, pipelines, plugin loading and
// its error paths.
#include "passes/registry.h"

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "passes/plugin_api.h"
#include "tests/passes/test_programs.h"

namespace fleet {
namespace {

using ::testing::HasSubstr;

class NamedPass final : public Pass {
 public:
  explicit NamedPass(std::string name) : name_(std::move(name)) {}
  std::string_view name() const override { return name_; }
  absl::StatusOr<bool> Run(Program&, PassContext&) override { return false; }

 private:
  std::string name_;
};

PassFactory Factory(std::string name) {
  return [name] { return std::make_unique<NamedPass>(name); };
}

TEST(PassRegistryTest, BuiltinsAreListedAndCreateThemselves) {
  PassRegistry registry = PassRegistry::WithBuiltins();
  ASSERT_NE(registry.Find("dce"), nullptr);
  EXPECT_EQ(registry.Find("dce")->origin, "built-in");
  for (const PassInfo* info : registry.List()) {
    absl::StatusOr<std::unique_ptr<Pass>> pass = registry.Create(info->name);
    ASSERT_TRUE(pass.ok()) << pass.status();
    // The name in passes.def and the pass's own name() agree.
    EXPECT_EQ((*pass)->name(), info->name);
    EXPECT_FALSE(info->description.empty()) << info->name;
  }
}

TEST(PassRegistryTest, UnknownNameSuggestsTheClosest) {
  PassRegistry registry;
  ASSERT_TRUE(registry.Add("fuse-matmul-bias", "", "test", Factory("fuse-matmul-bias")).ok());
  ASSERT_TRUE(registry.Add("dce", "", "test", Factory("dce")).ok());
  absl::Status s = registry.Create("fuse-matmul").status();
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(s.message(), "unknown pass 'fuse-matmul' (hint: did you mean 'fuse-matmul-bias'?)");
  EXPECT_THAT(registry.Create("dec").status().message(), HasSubstr("did you mean 'dce'?"));
  // Nothing close: the known names instead.
  EXPECT_THAT(registry.Create("loop-unroll").status().message(),
              HasSubstr("(known passes: dce, fuse-matmul-bias)"));
}

TEST(PassRegistryTest, NamesAreKebabCaseAndUnique) {
  PassRegistry registry;
  EXPECT_EQ(registry.Add("FuseMatMul", "", "test", Factory("x")).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(registry.Add("fuse_matmul", "", "test", Factory("x")).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(registry.Add("a--b", "", "test", Factory("x")).code(),
            absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(registry.Add("a-b", "", "first", Factory("a-b")).ok());
  absl::Status again = registry.Add("a-b", "", "second", Factory("a-b"));
  EXPECT_EQ(again.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(again.message(), HasSubstr("already registered (first)"));
}

TEST(PassRegistryTest, ParsePipeline) {
  EXPECT_THAT(*ParsePipeline("a, b ,c"), ::testing::ElementsAre("a", "b", "c"));
  EXPECT_TRUE(ParsePipeline("")->empty());
  EXPECT_TRUE(ParsePipeline("  ")->empty());
  absl::StatusOr<std::vector<std::string>> bad = ParsePipeline("a,,b");
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(bad.status().message(), HasSubstr("empty pass name"));
  EXPECT_FALSE(ParsePipeline("a,").ok());
}

TEST(PassRegistryTest, EditDistance) {
  EXPECT_EQ(EditDistance("", ""), 0u);
  EXPECT_EQ(EditDistance("dce", "dec"), 2u);
  EXPECT_EQ(EditDistance("kitten", "sitting"), 3u);
  EXPECT_EQ(EditDistance("abc", ""), 3u);
}

TEST(PassPluginTest, LoadsTheExamplePlugin) {
  PassRegistry registry = PassRegistry::WithBuiltins();
  ASSERT_TRUE(LoadPassPlugin(FLEET_FUSE_MATMUL_ADD_PATH, registry).ok());
  const PassInfo* info = registry.Find("fuse-matmul-add");
  ASSERT_NE(info, nullptr);
  EXPECT_EQ(info->origin, FLEET_FUSE_MATMUL_ADD_PATH);
  EXPECT_THAT(info->description, HasSubstr("Gemm"));
  absl::StatusOr<std::unique_ptr<Pass>> pass = registry.Create("fuse-matmul-add");
  ASSERT_TRUE(pass.ok()) << pass.status();
  EXPECT_EQ((*pass)->name(), "fuse-matmul-add");

  Program program = testing_util::ParseOrDie(testing_util::kMatMulAddProgram);
  PassContext ctx;
  absl::StatusOr<bool> changed = (*pass)->Run(program, ctx);
  ASSERT_TRUE(changed.ok()) << changed.status();
  EXPECT_TRUE(*changed);
  ASSERT_EQ(program.main().ops.size(), 1u);
  EXPECT_EQ(program.main().ops[0].type, "Gemm");

  // The "did you mean" hint covers plugin passes too.
  EXPECT_THAT(registry.Create("fuse-matmul").status().message(),
              HasSubstr("did you mean 'fuse-matmul-add'?"));
  // Loading it twice would register the name twice.
  absl::Status again = registry.LoadPlugin(FLEET_FUSE_MATMUL_ADD_PATH);
  EXPECT_EQ(again.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(again.message(), HasSubstr("'fuse-matmul-add' is already registered"));
}

TEST(PassPluginTest, MissingFile) {
  PassRegistry registry;
  absl::Status s = registry.LoadPlugin("/nonexistent/libnope.so");
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(s.message(), "/nonexistent/libnope.so: pass plugin not found (no such file)");
}

TEST(PassPluginTest, NotASharedLibrary) {
  PassRegistry registry;
  std::string path = ::testing::TempDir() + "/not_a_library.so";
  FILE* f = fopen(path.c_str(), "w");
  ASSERT_NE(f, nullptr);
  fputs("hello", f);
  fclose(f);
  absl::Status s = registry.LoadPlugin(path);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("cannot load pass plugin"));
}

TEST(PassPluginTest, MissingEntryPoint) {
  PassRegistry registry;
  absl::Status s = registry.LoadPlugin(FLEET_NO_ENTRY_PLUGIN_PATH);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("not a Fleet pass plugin: it does not export "
                                     "'fleet_register_passes'"));
}

TEST(PassPluginTest, VersionMismatch) {
  PassRegistry registry;
  absl::Status s = registry.LoadPlugin(FLEET_WRONG_ABI_PLUGIN_PATH);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(),
              HasSubstr(absl::StrCat("built for pass plugin ABI version ",
                                     FLEET_PASS_PLUGIN_ABI_VERSION + 99,
                                     "; this Fleet has version ", FLEET_PASS_PLUGIN_ABI_VERSION)));
  EXPECT_EQ(registry.Find("future-pass"), nullptr);
}

TEST(PassPluginTest, RegistrationFailureKeepsThePluginsMessage) {
  PassRegistry registry;
  absl::Status s = registry.LoadPlugin(FLEET_FAILING_PLUGIN_PATH);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("cannot register pass plugin: needs option FOO"));
  EXPECT_TRUE(registry.List().empty());
}

}  // namespace
}  // namespace fleet
