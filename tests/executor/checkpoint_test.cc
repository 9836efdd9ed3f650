// Checkpoints: a save/load round trip restores every persistable var bit for bit; a second save
// replaces the first completely; checkpoints from other programs are refused naming the var.
#include "executor/training/checkpoint.h"

#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <tuple>

#include "executor/npy.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace fleet {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

class CheckpointTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("fleet_ckpt_test_" + std::to_string(getpid()));
    fs::remove_all(root_);
    fs::create_directories(root_);
  }
  void TearDown() override { fs::remove_all(root_); }

  static Var MakeVar(const std::string& name, std::vector<int64_t> shape, uint32_t flags) {
    Var v;
    v.name = name;
    v.dtype = DataType::kF32;
    v.shape = std::move(shape);
    v.flags = flags;
    return v;
  }

  // x (feed) -> h; w, b, "lr" and the odd name "opt/m:0" persistable.
  static Program MakeProgram(std::vector<int64_t> w_shape = {3, 1}) {
    Program p;
    p.main().AddVar(MakeVar("x", {-1, 3}, kVarFeed));
    p.main().AddVar(MakeVar("h", {-1, 1}, 0));
    p.main().AddVar(MakeVar("w", w_shape, kVarPersistable | kVarParameter | kVarTrainable));
    p.main().AddVar(MakeVar("b", {1}, kVarPersistable | kVarParameter | kVarTrainable));
    p.main().AddVar(MakeVar("lr", {1}, kVarPersistable));
    p.main().AddVar(MakeVar("opt/m:0", w_shape, kVarPersistable));
    return p;
  }

  static Tensor Filled(std::vector<int64_t> shape, float start) {
    Tensor t(DataType::kF32, std::move(shape));
    for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = start + static_cast<float>(i);
    return t;
  }

  static Scope MakeScope(float start) {
    Scope s;
    s.Set("w", Filled({3, 1}, start));
    s.Set("b", Filled({1}, start + 10));
    s.Set("lr", Filled({1}, 0.5f));
    s.Set("opt/m:0", Filled({3, 1}, start + 20));
    return s;
  }

  static std::vector<float> Values(const Tensor& t) {
    return std::vector<float>(t.data<float>(), t.data<float>() + t.numel());
  }

  fs::path root_;
};

TEST_F(CheckpointTest, RoundTripRestoresEveryPersistableVar) {
  Program p = MakeProgram();
  EXPECT_EQ(CheckpointVars(p), (std::vector<std::string>{"b", "lr", "opt/m:0", "w"}));
  Scope saved = MakeScope(1.f);
  const std::string dir = (root_ / "ckpt").string();
  ASSERT_TRUE(SaveCheckpoint(dir, p, saved, CheckpointInfo{42, 3, ""}).ok());
  // The files are plain .npy, readable by anyone.
  auto w = ReadNpy((root_ / "ckpt" / "w.npy").string());
  ASSERT_TRUE(w.ok()) << w.status();
  EXPECT_EQ(Values(*w), (std::vector<float>{1, 2, 3}));

  Scope restored;
  auto info = LoadCheckpoint(dir, p, restored);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->step, 42);
  EXPECT_EQ(info->epoch, 3);
  EXPECT_EQ(info->fingerprint, ProgramFingerprint(p));
  for (const std::string& name : CheckpointVars(p)) {
    ASSERT_NE(restored.Find(name), nullptr) << name;
    EXPECT_EQ(restored.Find(name)->shape(), saved.Find(name)->shape());
    EXPECT_EQ(Values(*restored.Find(name)), Values(*saved.Find(name))) << name;
  }
  EXPECT_EQ(restored.Find("x"), nullptr);  // feeds are not state
}

// Found by checkpoint_manifest_fuzz: "step": 1e300 reached nlohmann's float-to-integer cast,
// undefined behaviour out of range. Counts and dims must be JSON integers that fit.
TEST_F(CheckpointTest, ManifestNumbersMustBeIntegersInRange) {
  Program p = MakeProgram();
  const fs::path dir = root_ / "ckpt";
  ASSERT_TRUE(SaveCheckpoint(dir.string(), p, MakeScope(1.f), CheckpointInfo{42, 3, ""}).ok());
  nlohmann::json good;
  std::ifstream(dir / "manifest.json") >> good;
  auto load_with = [&](const std::string& key, const nlohmann::json& value) {
    nlohmann::json m = good;
    if (key == "shape") {
      m["vars"][0]["shape"] = value;
    } else {
      m[key] = value;
    }
    std::ofstream(dir / "manifest.json", std::ios::trunc) << m.dump();
    Scope scope;
    return LoadCheckpoint(dir.string(), p, scope).status();
  };
  EXPECT_TRUE(load_with("step", 42).ok());
  for (auto [key, value, message] :
       {std::tuple{"step", nlohmann::json(1e300), "step is 1e+300; expected an integer"},
        {"epoch", nlohmann::json(int64_t{1} << 32), "epoch is 4294967296; expected an integer"},
        {"version", nlohmann::json(1.5), "version is 1.5; expected an integer"},
        {"shape", nlohmann::json({2.5}), "a dim of var 'b' is 2.5; expected an integer"}}) {
    absl::Status status = load_with(key, value);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << key;
    EXPECT_THAT(std::string(status.message()), HasSubstr(message)) << key;
  }
}

TEST_F(CheckpointTest, ASecondSaveReplacesTheFirstAndLeavesNoTemporaries) {
  Program p = MakeProgram();
  const std::string dir = (root_ / "ckpt").string();
  Scope first = MakeScope(1.f), second = MakeScope(100.f);
  ASSERT_TRUE(SaveCheckpoint(dir, p, first, CheckpointInfo{1, 0, ""}).ok());
  ASSERT_TRUE(SaveCheckpoint(dir + "/", p, second, CheckpointInfo{2, 0, ""}).ok());
  Scope restored;
  auto info = LoadCheckpoint(dir, p, restored);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->step, 2);
  EXPECT_EQ(Values(*restored.Find("w")), (std::vector<float>{100, 101, 102}));
  std::vector<std::string> entries;
  for (const auto& e : fs::directory_iterator(root_)) entries.push_back(e.path().filename());
  EXPECT_EQ(entries, std::vector<std::string>{"ckpt"});
}

TEST_F(CheckpointTest, RefusesToReplaceAFolderThatIsNotACheckpoint) {
  Program p = MakeProgram();
  fs::create_directories(root_ / "data");
  std::ofstream(root_ / "data" / "precious.txt") << "keep me";
  Scope s = MakeScope(1.f);
  absl::Status status = SaveCheckpoint((root_ / "data").string(), p, s, CheckpointInfo{});
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(status.message()), HasSubstr("is not a Fleet checkpoint"));
  EXPECT_TRUE(fs::exists(root_ / "data" / "precious.txt"));

  Scope missing;  // a var without a value: nothing is published
  status = SaveCheckpoint((root_ / "ckpt").string(), p, missing, CheckpointInfo{});
  EXPECT_THAT(std::string(status.message()), HasSubstr("persistable var 'b' has no value"));
  EXPECT_FALSE(fs::exists(root_ / "ckpt"));
}

TEST_F(CheckpointTest, ACheckpointOfAnotherProgramIsRefusedNamingTheVar) {
  Program p = MakeProgram();
  const std::string dir = (root_ / "ckpt").string();
  Scope saved = MakeScope(1.f);
  ASSERT_TRUE(SaveCheckpoint(dir, p, saved, CheckpointInfo{}).ok());

  auto load = [&](const Program& other) {
    Scope scope;
    absl::Status s = LoadCheckpoint(dir, other, scope).status();
    EXPECT_TRUE(scope.LocalNames().empty()) << "a failed load must not touch the scope";
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
    return std::string(s.message());
  };
  Program wider = MakeProgram({4, 1});
  EXPECT_THAT(load(wider), HasSubstr("var 'opt/m:0' is f32[3,1]; the program declares f32[4,1]"));

  Program more = MakeProgram();
  more.main().AddVar(MakeVar("velocity", {3, 1}, kVarPersistable));
  EXPECT_THAT(load(more), HasSubstr("has no var 'velocity', which the program needs"));

  Program fewer = MakeProgram();
  fewer.main().RemoveVar("lr");
  EXPECT_THAT(load(fewer), HasSubstr("holds var 'lr', which is not a persistable var"));

  Program renamed_activation = MakeProgram();  // same state, other intermediate vars
  renamed_activation.main().RemoveVar("h");
  renamed_activation.main().AddVar(MakeVar("hidden", {-1, 1}, 0));
  EXPECT_THAT(load(renamed_activation), HasSubstr("was saved from another program"));

  Scope scope;
  EXPECT_EQ(LoadCheckpoint((root_ / "nothing").string(), p, scope).status().code(),
            absl::StatusCode::kNotFound);
  std::ofstream(root_ / "ckpt" / "manifest.json") << "{\"format\": 3";
  EXPECT_THAT(std::string(LoadCheckpoint(dir, p, scope).status().message()),
              HasSubstr("malformed manifest"));
}

}  // namespace
}  // namespace fleet
