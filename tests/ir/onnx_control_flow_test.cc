// ONNX If/Loop import and export: GRAPH attributes become sub-blocks (golden text form), outer
// names stay references, an output that no subgraph node makes gets an Identity, sub-blocks
// survive export -> import, and unsupported ops inside a subgraph are reported by node.
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "ir/onnx/exporter.h"
#include "ir/onnx/importer.h"
#include "ir/text_format.h"
#include "onnx/onnx_pb.h"

namespace fleet {
namespace {

using ::testing::HasSubstr;

void AddValue(google::protobuf::RepeatedPtrField<onnx::ValueInfoProto>* list,
              const std::string& name, int elem_type, std::vector<int64_t> dims) {
  onnx::ValueInfoProto* v = list->Add();
  v->set_name(name);
  auto* t = v->mutable_type()->mutable_tensor_type();
  t->set_elem_type(elem_type);
  auto* shape = t->mutable_shape();
  for (int64_t d : dims) shape->add_dim()->set_dim_value(d);
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

onnx::GraphProto* AddGraphAttr(onnx::NodeProto* node, const std::string& name) {
  onnx::AttributeProto* a = node->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::GRAPH);
  a->mutable_g()->set_name(name);
  return a->mutable_g();
}

// y = If(cond) then { doubled = Add(x, x) } else { x } : the else branch returns an outer value.
onnx::ModelProto IfModel(const std::string& then_op = "Add") {
  onnx::ModelProto m;
  m.set_ir_version(8);
  m.add_opset_import()->set_version(17);
  onnx::GraphProto* g = m.mutable_graph();
  g->set_name("pick");
  AddValue(g->mutable_input(), "cond", onnx::TensorProto::BOOL, {});
  AddValue(g->mutable_input(), "x", onnx::TensorProto::FLOAT, {2});
  AddValue(g->mutable_output(), "y", onnx::TensorProto::FLOAT, {2});
  onnx::NodeProto* node = AddNode(g, "If", {"cond"}, {"y"}, "choose");
  onnx::GraphProto* then_branch = AddGraphAttr(node, "then_branch");
  AddNode(then_branch, then_op, {"x", "x"}, {"doubled"}, "twice");
  AddValue(then_branch->mutable_output(), "doubled", onnx::TensorProto::FLOAT, {2});
  onnx::GraphProto* else_branch = AddGraphAttr(node, "else_branch");
  AddValue(else_branch->mutable_output(), "x", onnx::TensorProto::FLOAT, {2});
  return m;
}

TEST(OnnxControlFlowTest, IfBranchesBecomeSubBlocks) {
  auto program = ImportOnnxModel(IfModel(), "pick.onnx", "");
  ASSERT_TRUE(program.ok()) << program.status();
  std::string text = PrintProgram(*program);
  const std::string blocks = text.substr(text.find("block 0"));
  EXPECT_EQ(blocks,
            "block 0 {\n"
            "  var %cond : bool[] feed\n"
            "  var %x : f32[2] feed\n"
            "  var %y : f32[2] fetch\n"
            "  (outputs: %y) = If(cond: %cond) {else_branch = ^2, then_branch = ^1} "
            "name=\"choose\" loc(\"pick.onnx\" node \"choose\")\n"
            "}\n"
            "block 1 parent 0 {\n"
            "  var %doubled : f32[2] fetch\n"
            "  (C: %doubled) = Add(A: %x, B: %x) name=\"twice\" loc(\"pick.onnx\" node \"twice\")\n"
            "}\n"
            "block 2 parent 0 {\n"
            "  var %x.out : f32[2] fetch\n"
            "  (output: %x.out) = Identity(input: %x) name=\"choose.x.out\" "
            "loc(\"pick.onnx\" node \"choose.x.out\")\n"
            "}\n");
}

TEST(OnnxControlFlowTest, SubBlocksSurviveExportAndImport) {
  auto program = ImportOnnxModel(IfModel(), "pick.onnx", "");
  ASSERT_TRUE(program.ok()) << program.status();
  auto exported = ExportOnnxModel(*program);
  ASSERT_TRUE(exported.ok()) << exported.status();
  const onnx::NodeProto& node = exported->graph().node(0);
  ASSERT_EQ(node.attribute_size(), 2);
  EXPECT_EQ(node.attribute(0).name(), "then_branch");  // block order: ^1 first
  EXPECT_EQ(node.attribute(0).type(), onnx::AttributeProto::GRAPH);
  auto again = ImportOnnxModel(*std::move(exported), "pick.onnx", "");
  ASSERT_TRUE(again.ok()) << again.status();
  std::string before = PrintProgram(*program);
  std::string after = PrintProgram(*again);
  EXPECT_EQ(before.substr(before.find("block 0")), after.substr(after.find("block 0")));
}

TEST(OnnxControlFlowTest, UnsupportedOpInsideABranchIsNamed) {
  auto program = ImportOnnxModel(IfModel("StringNormalizer"), "pick.onnx", "");
  EXPECT_EQ(program.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_THAT(std::string(program.status().message()),
              HasSubstr("pick.onnx: node 'twice' (StringNormalizer, opset 17): unsupported op"));
}

TEST(OnnxControlFlowTest, OldScanIsUnsupported) {
  onnx::ModelProto m;
  m.set_ir_version(8);
  m.add_opset_import()->set_version(8);
  onnx::GraphProto* g = m.mutable_graph();
  g->set_name("scan8");
  AddValue(g->mutable_input(), "s", onnx::TensorProto::FLOAT, {1, 2});
  AddValue(g->mutable_input(), "xs", onnx::TensorProto::FLOAT, {1, 3, 2});
  AddValue(g->mutable_output(), "final", onnx::TensorProto::FLOAT, {1, 2});
  onnx::NodeProto* node = AddNode(g, "Scan", {"", "s", "xs"}, {"final"}, "scan");
  onnx::AttributeProto* n = node->add_attribute();
  n->set_name("num_scan_inputs");
  n->set_type(onnx::AttributeProto::INT);
  n->set_i(1);
  onnx::GraphProto* body = AddGraphAttr(node, "body");
  AddValue(body->mutable_input(), "acc", onnx::TensorProto::FLOAT, {2});
  AddValue(body->mutable_input(), "step", onnx::TensorProto::FLOAT, {2});
  AddNode(body, "Add", {"acc", "step"}, {"next"}, "add");
  AddValue(body->mutable_output(), "next", onnx::TensorProto::FLOAT, {2});
  auto program = ImportOnnxModel(m, "scan8.onnx", "");
  EXPECT_EQ(program.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_THAT(std::string(program.status().message()),
              HasSubstr("node 'scan' (Scan, opset 8): Scan before opset 9"));
}

}  // namespace
}  // namespace fleet
