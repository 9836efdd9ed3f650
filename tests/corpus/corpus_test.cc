// Feeds every broken or hostile file in tests/corpus/ to the reader that owns it (ONNX models,
// .npy files, checkpoint manifests; inputs the fuzz targets of tests/fuzz found join them): each
// must be refused with an error that names the file, and nothing may crash (CI also runs this
// under AddressSanitizer and UndefinedBehaviorSanitizer). Mutations of a valid model (every
// truncation point, random bit flips) must never crash either, whether or not they import.
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "executor/npy.h"
#include "executor/scope.h"
#include "executor/training/checkpoint.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "ir/onnx/importer.h"
#include "onnx/onnx_pb.h"

namespace fleet {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

fs::path CorpusDir() {
  const char* root = std::getenv("FLEET_SOURCE_DIR");
  return fs::path(root ? root : ".") / "tests" / "corpus";
}

std::vector<fs::path> Files(const std::string& sub) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(CorpusDir() / sub)) out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

TEST(CorpusTest, BrokenOnnxModelsAreRefusedByName) {
  std::vector<fs::path> files = Files("onnx");
  ASSERT_GE(files.size(), 20u);
  for (const fs::path& f : files) {
    auto program = ImportOnnxFile(f.string());
    if (f.filename().string().rfind("bitflip_", 0) == 0) continue;  // may land on a weight
    EXPECT_FALSE(program.ok()) << f << " was accepted";
    EXPECT_THAT(std::string(program.status().message()), HasSubstr(f.filename().string()));
  }
}

TEST(CorpusTest, BrokenNpyFilesAreRefusedByName) {
  std::vector<fs::path> files = Files("npy");
  ASSERT_GE(files.size(), 10u);
  for (const fs::path& f : files) {
    auto t = ReadNpy(f.string());
    EXPECT_FALSE(t.ok()) << f << " was accepted";
    EXPECT_THAT(std::string(t.status().message()), HasSubstr(f.filename().string()));
  }
}

// Each file in tests/corpus/checkpoint is the manifest.json of a checkpoint folder that also
// holds a valid w.npy for a program whose one persistable var is w : f32[2,3].
TEST(CorpusTest, BrokenCheckpointManifestsAreRefusedByName) {
  Program program;
  Var w;
  w.name = "w";
  w.dtype = DataType::kF32;
  w.shape = {2, 3};
  w.flags = kVarPersistable;
  program.main().AddVar(w);
  const fs::path dir =
      fs::temp_directory_path() / ("fleet_corpus_ckpt_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  ASSERT_TRUE(WriteNpy((dir / "w.npy").string(), Tensor::Zeros(DataType::kF32, {2, 3})).ok());
  std::vector<fs::path> files = Files("checkpoint");
  ASSERT_GE(files.size(), 1u);
  for (const fs::path& f : files) {
    fs::copy_file(f, dir / "manifest.json", fs::copy_options::overwrite_existing);
    Scope scope;
    auto info = LoadCheckpoint(dir.string(), program, scope);
    EXPECT_FALSE(info.ok()) << f << " was accepted";
    EXPECT_THAT(std::string(info.status().message()), HasSubstr("manifest.json")) << f;
  }
  fs::remove_all(dir);
}

// A valid model built here: y = Relu(MatMul(x, w)).
std::string ValidModelBytes() {
  onnx::ModelProto m;
  m.set_ir_version(8);
  m.add_opset_import()->set_version(17);
  onnx::GraphProto* g = m.mutable_graph();
  g->set_name("g");
  for (auto [list, name] : {std::pair{g->mutable_input(), "x"}, {g->mutable_output(), "y"}}) {
    auto* t = list->Add();
    t->set_name(name);
    t->mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto::FLOAT);
    t->mutable_type()->mutable_tensor_type()->mutable_shape()->add_dim()->set_dim_value(2);
    t->mutable_type()->mutable_tensor_type()->mutable_shape()->add_dim()->set_dim_value(2);
  }
  onnx::TensorProto* w = g->add_initializer();
  w->set_name("w");
  w->set_data_type(onnx::TensorProto::FLOAT);
  w->add_dims(2);
  w->add_dims(2);
  for (int i = 0; i < 4; ++i) w->add_float_data(1.f);
  auto* mm = g->add_node();
  mm->set_op_type("MatMul");
  mm->add_input("x");
  mm->add_input("w");
  mm->add_output("xw");
  auto* relu = g->add_node();
  relu->set_op_type("Relu");
  relu->add_input("xw");
  relu->add_output("y");
  return m.SerializeAsString();
}

TEST(CorpusTest, MutatedModelsNeverCrash) {
  std::string good = ValidModelBytes();
  fs::path path = fs::temp_directory_path() / ("fleet_mutant_" + std::to_string(::getpid()) + ".onnx");
  auto import = [&](const std::string& bytes) {
    std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
    auto r = ImportOnnxFile(path.string());
    if (bytes == good && !r.ok()) ADD_FAILURE() << r.status();
    return r.ok();
  };
  ASSERT_TRUE(import(good));
  for (size_t cut = 0; cut < good.size(); ++cut) import(good.substr(0, cut));
  std::mt19937 rng(1234);
  int accepted = 0;
  for (int i = 0; i < 300; ++i) {
    std::string bytes = good;
    bytes[rng() % bytes.size()] ^= static_cast<char>(1u << (rng() % 8));
    accepted += import(bytes) ? 1 : 0;
  }
  fs::remove(path);
  EXPECT_LT(accepted, 300);  // most flips break something; none may crash
}

}  // namespace
}  // namespace fleet
