// ONNX import: what becomes of a model, and the errors for models Fleet cannot take.
#include "ir/onnx/importer.h"

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "ir/onnx/attribute_convert.h"
#include "ir/onnx/exporter.h"
#include "ir/text_format.h"
#include "onnx/onnx_pb.h"

namespace fleet {
namespace {

using ::testing::HasSubstr;
namespace fs = std::filesystem;

void AddValue(google::protobuf::RepeatedPtrField<onnx::ValueInfoProto>* list,
              const std::string& name, int elem_type, std::vector<int64_t> dims) {
  onnx::ValueInfoProto* v = list->Add();
  v->set_name(name);
  auto* t = v->mutable_type()->mutable_tensor_type();
  t->set_elem_type(elem_type);
  auto* shape = t->mutable_shape();
  for (int64_t d : dims) {
    if (d < 0) shape->add_dim()->set_dim_param("batch");
    else shape->add_dim()->set_dim_value(d);
  }
}

onnx::NodeProto* AddNode(onnx::GraphProto* g, const std::string& type,
                         std::vector<std::string> inputs, std::vector<std::string> outputs,
                         const std::string& name) {
  onnx::NodeProto* n = g->add_node();
  n->set_op_type(type);
  n->set_name(name);
  for (auto& i : inputs) n->add_input(i);
  for (auto& o : outputs) n->add_output(o);
  return n;
}

// y = Relu(MatMul(x, w) + b), x: f32[batch,4], w: f32[4,3] initializer, b: f32[3] initializer.
onnx::ModelProto SmallMlp(int opset = 17) {
  onnx::ModelProto m;
  m.set_ir_version(8);
  m.add_opset_import()->set_version(opset);
  onnx::GraphProto* g = m.mutable_graph();
  g->set_name("mlp");
  AddValue(g->mutable_input(), "x", onnx::TensorProto::FLOAT, {-1, 4});
  AddValue(g->mutable_output(), "y", onnx::TensorProto::FLOAT, {-1, 3});
  TensorValue w{DataType::kF32, {4, 3}, std::string(48, '\0')};
  TensorValue b{DataType::kF32, {3}, std::string(12, '\0')};
  *g->add_initializer() = TensorValueToOnnx(w, "w");
  *g->add_initializer() = TensorValueToOnnx(b, "b");
  AddNode(g, "MatMul", {"x", "w"}, {"xw"}, "fc");
  AddNode(g, "Add", {"xw", "b"}, {"z"}, "bias");
  AddNode(g, "Relu", {"z"}, {"y"}, "act");
  return m;
}

class OnnxImportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("fleet_import_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string Write(const std::string& name, const std::string& bytes) {
    std::string path = (dir_ / name).string();
    std::ofstream(path, std::ios::binary) << bytes;
    return path;
  }
  std::string WriteModel(const onnx::ModelProto& m, const std::string& name = "model.onnx") {
    return Write(name, m.SerializeAsString());
  }

  fs::path dir_;
};

TEST_F(OnnxImportTest, ImportsVarsOpsAndValues) {
  auto program = ImportOnnxFile(WriteModel(SmallMlp()));
  ASSERT_TRUE(program.ok()) << program.status();
  const Block& b = program->main();
  ASSERT_EQ(b.ops.size(), 3u);
  EXPECT_EQ(b.ops[0].type, "MatMul");
  ASSERT_EQ(b.ops[0].inputs.size(), 2u);
  EXPECT_EQ(b.ops[0].inputs[0].name, "A");
  EXPECT_EQ(b.ops[0].inputs[1].vars, std::vector<std::string>{"w"});
  EXPECT_EQ(b.ops[0].loc.node, "fc");
  const Var* x = b.FindVar("x");
  ASSERT_NE(x, nullptr);
  EXPECT_TRUE(x->Has(kVarFeed));
  EXPECT_EQ(*x->shape, (std::vector<int64_t>{-1, 4}));
  const Var* w = b.FindVar("w");
  ASSERT_NE(w, nullptr);
  EXPECT_TRUE(w->Has(kVarPersistable));
  EXPECT_TRUE(w->Has(kVarParameter));
  EXPECT_EQ(program->values.at("w").bytes.size(), 48u);
  EXPECT_TRUE(b.FindVar("y")->Has(kVarFetch));
  // Shape inference filled the intermediate.
  EXPECT_EQ(b.FindVar("xw")->dtype, DataType::kF32);
  EXPECT_EQ(*b.FindVar("xw")->shape, (std::vector<int64_t>{-1, 3}));
  EXPECT_EQ(program->meta.opset, 17);
}

TEST_F(OnnxImportTest, TruncatedAndCorruptFilesAreRejectedByName) {
  std::string bytes = SmallMlp().SerializeAsString();
  for (size_t cut : {size_t{0}, size_t{1}, bytes.size() / 3, bytes.size() - 1}) {
    std::string path = Write("cut.onnx", bytes.substr(0, cut));
    auto program = ImportOnnxFile(path);
    ASSERT_FALSE(program.ok()) << "cut at " << cut;
    EXPECT_THAT(std::string(program.status().message()), HasSubstr("cut.onnx"));
  }
  auto missing = ImportOnnxFile((dir_ / "nope.onnx").string());
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
}

TEST_F(OnnxImportTest, UnknownOpSaysUnsupportedWithNodeAndOpset) {
  onnx::ModelProto m = SmallMlp();
  m.mutable_graph()->mutable_node(2)->set_op_type("StringNormalizer");
  auto program = ImportOnnxFile(WriteModel(m));
  ASSERT_FALSE(program.ok());
  EXPECT_EQ(program.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_THAT(std::string(program.status().message()),
              HasSubstr("node 'act' (StringNormalizer, opset 17): unsupported op"));
}

TEST_F(OnnxImportTest, DanglingInputAndCycleAreErrors) {
  onnx::ModelProto m = SmallMlp();
  m.mutable_graph()->mutable_node(1)->set_input(0, "ghost");
  auto dangling = ImportOnnxFile(WriteModel(m, "dangling.onnx"), {.run_checker = false});
  ASSERT_FALSE(dangling.ok());
  EXPECT_THAT(std::string(dangling.status().message()), HasSubstr("input 'ghost'"));

  onnx::ModelProto cyc = SmallMlp();
  cyc.mutable_graph()->mutable_node(0)->set_input(0, "z");  // MatMul reads Add's output
  auto cycle = ImportOnnxFile(WriteModel(cyc, "cycle.onnx"));
  ASSERT_FALSE(cycle.ok());
  EXPECT_EQ(cycle.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(OnnxImportTest, UnsupportedDtypeAndOpsetAndAttribute) {
  onnx::ModelProto str;
  str.set_ir_version(8);
  str.add_opset_import()->set_version(17);
  str.mutable_graph()->set_name("strings");
  AddValue(str.mutable_graph()->mutable_input(), "x", onnx::TensorProto::STRING, {2});
  AddValue(str.mutable_graph()->mutable_output(), "y", onnx::TensorProto::STRING, {2});
  AddNode(str.mutable_graph(), "Identity", {"x"}, {"y"}, "id");
  auto s = ImportOnnxFile(WriteModel(str, "str.onnx"));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_THAT(std::string(s.status().message()),
              HasSubstr("str.onnx: graph input: value 'x' has element type STRING, which is "
                        "unsupported"));

  auto opset = ImportOnnxFile(WriteModel(SmallMlp(19), "new.onnx"));
  EXPECT_EQ(opset.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_THAT(std::string(opset.status().message()), HasSubstr("opset 19 is unsupported"));

  onnx::ModelProto attr = SmallMlp();
  auto* a = attr.mutable_graph()->mutable_node(2)->add_attribute();
  a->set_name("alpha");
  a->set_type(onnx::AttributeProto::FLOAT);
  a->set_f(0.1f);
  auto bad = ImportOnnxFile(WriteModel(attr, "attr.onnx"), {.run_checker = false});
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(std::string(bad.status().message()),
              HasSubstr("node 'act' (Relu, opset 17): attribute 'alpha' is unsupported"));
}

TEST_F(OnnxImportTest, OldSqueezeAxesAttributeBecomesAnInput) {
  onnx::ModelProto m;
  m.set_ir_version(7);
  m.add_opset_import()->set_version(11);
  onnx::GraphProto* g = m.mutable_graph();
  g->set_name("squeeze");
  AddValue(g->mutable_input(), "x", onnx::TensorProto::FLOAT, {1, 3, 1});
  AddValue(g->mutable_output(), "y", onnx::TensorProto::FLOAT, {3});
  auto* n = AddNode(g, "Squeeze", {"x"}, {"y"}, "sq");
  auto* axes = n->add_attribute();
  axes->set_name("axes");
  axes->set_type(onnx::AttributeProto::INTS);
  axes->add_ints(0);
  axes->add_ints(2);
  auto program = ImportOnnxFile(WriteModel(m));
  ASSERT_TRUE(program.ok()) << program.status();
  const Op& op = program->main().ops[0];
  EXPECT_TRUE(op.attrs.empty());
  ASSERT_EQ(op.inputs.size(), 2u);
  ASSERT_EQ(op.inputs[1].vars.size(), 1u);
  const TensorValue& v = program->values.at(op.inputs[1].vars[0]);
  ASSERT_EQ(v.dtype, DataType::kI64);
  std::vector<int64_t> got(2);
  std::memcpy(got.data(), v.bytes.data(), 16);
  EXPECT_EQ(got, (std::vector<int64_t>{0, 2}));
}

TEST_F(OnnxImportTest, ExternalDataLoadsInsideFolderOnly) {
  onnx::ModelProto m = SmallMlp();
  onnx::TensorProto* w = m.mutable_graph()->mutable_initializer(0);
  std::string payload(48, '\0');
  float one = 1.f;
  std::memcpy(payload.data(), &one, 4);
  Write("w.bin", payload);
  w->clear_raw_data();
  w->set_data_location(onnx::TensorProto::EXTERNAL);
  auto* loc = w->add_external_data();
  loc->set_key("location");
  loc->set_value("w.bin");
  auto program = ImportOnnxFile(WriteModel(m));
  ASSERT_TRUE(program.ok()) << program.status();
  EXPECT_EQ(program->values.at("w").bytes, payload);

  loc->set_value("../escape.bin");
  auto escape = ImportOnnxFile(WriteModel(m, "escape.onnx"));
  ASSERT_FALSE(escape.ok());
  EXPECT_THAT(std::string(escape.status().message()), HasSubstr("outside the model's folder"));
}

// Found by onnx_import_fuzz: the model's folder itself (".", or a name cut short by a NUL byte)
// opened as a stream of garbage size, and offset + length could overflow.
TEST_F(OnnxImportTest, ExternalDataRefusesFoldersNulBytesAndOverflow) {
  onnx::ModelProto m = SmallMlp();
  onnx::TensorProto* w = m.mutable_graph()->mutable_initializer(0);
  Write("w.bin", std::string(48, '\0'));
  w->clear_raw_data();
  w->set_data_location(onnx::TensorProto::EXTERNAL);
  auto* loc = w->add_external_data();
  loc->set_key("location");
  auto import_with = [&](const std::string& location, const std::string& offset,
                         const std::string& length) {
    loc->set_value(location);
    w->mutable_external_data()->DeleteSubrange(1, w->external_data_size() - 1);
    for (auto [key, value] : {std::pair{"offset", offset}, {"length", length}}) {
      if (value.empty()) continue;
      auto* kv = w->add_external_data();
      kv->set_key(key);
      kv->set_value(value);
    }
    auto program = ImportOnnxFile(WriteModel(m, "ext.onnx"));
    EXPECT_FALSE(program.ok()) << location;
    return std::string(program.status().message());
  };
  EXPECT_THAT(import_with(".", "", ""), HasSubstr("not a regular file"));
  EXPECT_THAT(import_with(std::string(".\0/../w.bin", 12), "", ""), HasSubstr("NUL byte"));
  EXPECT_THAT(import_with("w.bin", "8", "9223372036854775807"),
              HasSubstr("external data of 9223372036854775807 bytes at offset 8 is beyond the end "
                        "of 'w.bin' (48 bytes)"));
  EXPECT_THAT(import_with("w.bin", "8x", ""),
              HasSubstr("external data offset '8x' is not an integer"));
}

// Found by onnx_import_fuzz: ONNX (proto2) does not check that names are UTF-8, and a program
// holding such a name could not be written as text or read back from a program file.
TEST_F(OnnxImportTest, NamesMustBeUtf8) {
  onnx::ModelProto m = SmallMlp();
  m.mutable_graph()->set_name("\x93\x02\x08\x02");
  auto graph_name = ImportOnnxFile(WriteModel(m, "latin.onnx"));
  ASSERT_FALSE(graph_name.ok());
  EXPECT_EQ(graph_name.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(graph_name.status().message()),
              HasSubstr("latin.onnx: graph name \"\\x93\\x02\\x08\\x02\" is not valid UTF-8"));

  m = SmallMlp();
  m.mutable_graph()->mutable_node(0)->set_name("caf\xe9");
  auto node_name = ImportOnnxFile(WriteModel(m, "latin.onnx"));
  ASSERT_FALSE(node_name.ok());
  EXPECT_THAT(std::string(node_name.status().message()), HasSubstr("node name \"caf\\xe9\""));

  m = SmallMlp();
  m.mutable_graph()->mutable_node(0)->set_name("caf\xc3\xa9");  // valid UTF-8 stays welcome
  auto accented = ImportOnnxFile(WriteModel(m, "utf8.onnx"));
  EXPECT_TRUE(accented.ok()) << accented.status();
}

TEST_F(OnnxImportTest, ExportThenImportGivesTheSameProgram) {
  onnx::ModelProto m = SmallMlp();
  auto* clip = m.mutable_graph()->add_node();  // an absent optional input in the middle
  clip->set_op_type("Clip");
  clip->set_name("clip");
  clip->add_input("y");
  clip->add_input("");
  clip->add_input("b");
  clip->add_output("clipped");
  AddValue(m.mutable_graph()->mutable_output(), "clipped", onnx::TensorProto::FLOAT, {-1, 3});
  auto program = ImportOnnxFile(WriteModel(m));
  ASSERT_TRUE(program.ok()) << program.status();
  auto exported = ExportOnnxModel(*program);
  ASSERT_TRUE(exported.ok()) << exported.status();
  EXPECT_EQ(exported->graph().node(3).input_size(), 3);
  EXPECT_EQ(exported->graph().node(3).input(1), "");
  auto again = ImportOnnxModel(*exported, program->source, "");
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->values, program->values);
  again->meta.extra = program->meta.extra;  // producer and graph name differ by design
  EXPECT_EQ(PrintProgram(*again), PrintProgram(*program));
}

TEST_F(OnnxImportTest, ExportKeepsUnusedAndEmptyInitializers) {
  onnx::ModelProto m = SmallMlp();
  *m.mutable_graph()->add_initializer() =
      TensorValueToOnnx(TensorValue{DataType::kF32, {0}, ""}, "empty_roi");
  *m.mutable_graph()->add_initializer() =
      TensorValueToOnnx(TensorValue{DataType::kI64, {1}, std::string(8, '\0')}, "unused");
  auto program = ImportOnnxFile(WriteModel(m));
  ASSERT_TRUE(program.ok()) << program.status();
  auto exported = ExportOnnxModel(*program);
  ASSERT_TRUE(exported.ok()) << exported.status();
  EXPECT_EQ(exported->graph().initializer_size(), 4);
}

TEST_F(OnnxImportTest, OldClipAttributesBecomeConstantsOfTheInputDtype) {
  onnx::ModelProto m;
  m.set_ir_version(3);
  m.add_opset_import()->set_version(6);
  onnx::GraphProto* g = m.mutable_graph();
  g->set_name("clip");
  AddValue(g->mutable_input(), "x", onnx::TensorProto::DOUBLE, {3});
  AddValue(g->mutable_output(), "y", onnx::TensorProto::DOUBLE, {3});
  auto* n = AddNode(g, "Clip", {"x"}, {"y"}, "clip");
  for (auto [name, v] : {std::pair{"min", -1.f}, std::pair{"max", 2.f}}) {
    auto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::FLOAT);
    a->set_f(v);
  }
  auto program = ImportOnnxFile(WriteModel(m));
  ASSERT_TRUE(program.ok()) << program.status();
  const Op& op = program->main().ops[0];
  ASSERT_EQ(op.inputs.size(), 3u);
  const TensorValue& hi = program->values.at(op.inputs[2].vars[0]);
  ASSERT_EQ(hi.dtype, DataType::kF64);
  double v;
  std::memcpy(&v, hi.bytes.data(), 8);
  EXPECT_EQ(v, 2.0);
}

TEST_F(OnnxImportTest, ExportRefusesFleetOps) {
  auto program = ImportOnnxFile(WriteModel(SmallMlp()));
  ASSERT_TRUE(program.ok());
  program->main().ops[0].type = "fleet.send";
  auto exported = ExportOnnxModel(*program);
  EXPECT_EQ(exported.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_THAT(std::string(exported.status().message()), HasSubstr("not an ONNX op"));
}

}  // namespace
}  // namespace fleet
