// Program text form: golden printed programs (the spec), round trips, parse errors with their
// positions, and hostile text.
#include "ir/text_format.h"

#include <cmath>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>

#include "gtest/gtest.h"
#include "tests/ir/program_fixtures.h"

namespace fleet {
namespace {

using testing_util::Canonical;
using testing_util::MakeEveryFeatureProgram;
using testing_util::MakeTensor;
using testing_util::MakeVar;

constexpr char kEmptyHeader[] =
    "fleet.program v2 opset=0 producer=\"\" strategy=\"\" role=\"\" endpoints=[] extra={}\n";

std::string ParseError(std::string_view text, std::string_view file = "t.txt") {
  absl::StatusOr<Program> r = ParseProgramText(text, file);
  if (r.ok()) return "OK";
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << r.status();
  return std::string(r.status().message());
}

// ---- golden text ----

TEST(TextFormatGoldenTest, EmptyProgram) {
  EXPECT_EQ(PrintProgram(Program()), std::string(kEmptyHeader) + "block 0 {\n}\n");
}

TEST(TextFormatGoldenTest, SmallMlp) {
  Program p;
  p.meta.opset = 17;
  p.meta.producer = "onnx-import";
  Block& b = p.main();
  b.AddVar(MakeVar("x", DataType::kF32, std::vector<int64_t>{-1, 784}, kVarFeed));
  b.AddVar(MakeVar("fc1.w", DataType::kF32, std::vector<int64_t>{784, 128},
                   kVarPersistable | kVarParameter | kVarTrainable));
  b.AddVar(MakeVar("onnx::MatMul_5", DataType::kF32, std::vector<int64_t>{-1, 128}));
  b.AddVar(MakeVar("ids", DataType::kI64, std::nullopt, 0, VarKind::kSparseRows));
  b.AddVar(MakeVar("out", DataType::kF32, std::vector<int64_t>{-1, 128}, kVarFetch));
  p.values["fc1.w"] = TensorValue{DataType::kF32, {784, 128}, std::string(784 * 128 * 4, '\0')};
  Op mm;
  mm.type = "MatMul";
  mm.name = "fc1";
  mm.inputs = {{"A", {"x"}}, {"B", {"fc1.w"}}};
  mm.outputs = {{"Y", {"onnx::MatMul_5"}}};
  mm.loc.file = "model.onnx";
  mm.loc.node = "fc1";
  b.ops.push_back(mm);
  Op relu;
  relu.type = "Relu";
  relu.inputs = {{"X", {"onnx::MatMul_5"}}};
  relu.outputs = {{"Y", {"out"}}};
  b.ops.push_back(relu);
  EXPECT_EQ(PrintProgram(p),
            "fleet.program v2 opset=17 producer=\"onnx-import\" strategy=\"\" role=\"\" "
            "endpoints=[] extra={}\n"
            "block 0 {\n"
            "  var %x : f32[?,784] feed\n"
            "  var %fc1.w : f32[784,128] persistable parameter trainable init\n"
            "  var %\"onnx::MatMul_5\" : f32[?,128]\n"
            "  var %ids : i64 sparse_rows\n"
            "  var %out : f32[?,128] fetch\n"
            "  (Y: %\"onnx::MatMul_5\") = MatMul(A: %x, B: %fc1.w) name=\"fc1\" "
            "loc(\"model.onnx\" node \"fc1\")\n"
            "  (Y: %out) = Relu(X: %\"onnx::MatMul_5\")\n"
            "}\n");
}

TEST(TextFormatGoldenTest, SlotsRolesDeviceAndBlocks) {
  Program p;
  p.meta.strategy = "ps";
  p.meta.role = "pserver";
  p.meta.endpoints = {"127.0.0.1:6000", "127.0.0.1:6001"};
  p.meta.training.loss = "loss";
  p.meta.training.optimizer = "fleet.sgd";
  p.meta.extra = {{"trainers", "2"}};
  Op fwd;
  fwd.type = "Relu";
  fwd.inputs = {{"X", {"x"}}};
  fwd.outputs = {{"Y", {"r"}}};
  fwd.role = kRoleForward | kRoleLoss;
  p.main().ops.push_back(fwd);
  Op ln;
  ln.type = "LayerNormalization";
  ln.inputs = {{"X", {"x"}}, {"Scale", {"s"}}, {"B", {""}}};
  ln.outputs = {{"Y", {"y"}}, {"Mean", {"m"}}};
  ln.attrs = {{"axis", int64_t{-1}}, {"epsilon", 1e-5f}};
  ln.role = kRoleBackward | kRoleLoss;
  p.main().ops.push_back(ln);
  Op concat;
  concat.type = "fleet.concat";
  concat.inputs = {{"inputs", {"a", "", "b"}}, {"extra", {}}};
  concat.outputs = {{"Out", {"c"}}};
  concat.device = "cpu:0";
  concat.loc.node = "cat";
  p.main().ops.push_back(concat);
  int b1 = p.AddBlock(0);
  Op send;
  send.type = "fleet.send";
  send.inputs = {{"X", {"w@GRAD"}}};
  send.attrs = {{"body", BlockRef{1}}, {"endpoint", std::string("127.0.0.1:6000")}};
  send.role = kRoleRpc | kRoleDist;
  send.role_vars = {{"w", "w@GRAD"}, {"b", "b@GRAD"}};
  p.blocks[b1].ops.push_back(send);
  p.blocks[b1].AddVar(MakeVar("w@GRAD", DataType::kF16, std::vector<int64_t>{}));
  EXPECT_EQ(PrintProgram(p),
            "fleet.program v2 opset=0 producer=\"\" strategy=\"ps\" role=\"pserver\" "
            "endpoints=[\"127.0.0.1:6000\", \"127.0.0.1:6001\"] "
            "training={loss=%loss, optimizer=\"fleet.sgd\"} extra={\"trainers\": \"2\"}\n"
            "block 0 {\n"
            "  (Y: %r) = Relu(X: %x) role=forward|loss\n"
            "  (Y: %y, Mean: %m) = LayerNormalization(X: %x, Scale: %s, B: none) "
            "{axis = -1, epsilon = 1e-05} role=backward|loss\n"
            "  (Out: %c) = fleet.concat(inputs: [%a, none, %b], extra: []) device=\"cpu:0\" "
            "loc(node \"cat\")\n"
            "}\n"
            "block 1 parent 0 {\n"
            "  var %\"w@GRAD\" : f16[]\n"
            "  fleet.send(X: %\"w@GRAD\") {body = ^1, endpoint = \"127.0.0.1:6000\"} "
            "role=rpc|dist vars=[(%w, %\"w@GRAD\"), (%b, %\"b@GRAD\")]\n"
            "}\n");
}

TEST(TextFormatGoldenTest, AttributeTypes) {
  Program p;
  Op op;
  op.type = "fleet.attrs";
  op.attrs = {
      {"a_int", int64_t{1}},
      {"b_float", 2.0f},
      {"c_float", 0.1f},
      {"d_inf", -std::numeric_limits<float>::infinity()},
      {"e_str", std::string("a\"b\\c\n\x01")},
      {"f_ints", std::vector<int64_t>{1, 2}},
      {"g_floats", std::vector<float>{1.0f, 2.5f}},
      {"h_strings", std::vector<std::string>{"x", "y z"}},
      {"i_ints", std::vector<int64_t>{}},
      {"j_floats", std::vector<float>{}},
      {"k_strings", std::vector<std::string>{}},
      {"l_dense", MakeTensor<float>(DataType::kF32, {2, 2}, {1.0f, 2.0f, 3.0f, 4.0f})},
      {"m_f16", MakeTensor<uint16_t>(DataType::kF16, {2}, {0x3C00, 0xC000})},
      {"m_g_bf16", MakeTensor<uint16_t>(DataType::kBF16, {2}, {0x3F80, 0xC0A0})},
      {"n_bool", MakeTensor<uint8_t>(DataType::kBool, {2}, {1, 0})},
      {"o_i8", MakeTensor<int8_t>(DataType::kI8, {}, {-3})},
      {"p_block", BlockRef{0}},
      {"q odd name", int64_t{0}},
  };
  p.main().ops.push_back(op);
  EXPECT_EQ(PrintProgram(p),
            std::string(kEmptyHeader) +
                "block 0 {\n"
                "  fleet.attrs() {a_int = 1, b_float = 2.0, c_float = 0.1, d_inf = -inf, "
                "e_str = \"a\\\"b\\\\c\\n\\x01\", f_ints = [1, 2], g_floats = [1.0, 2.5], "
                "h_strings = [\"x\", \"y z\"], i_ints = ints[], j_floats = floats[], "
                "k_strings = strings[], l_dense = dense<f32[2,2]>[1.0, 2.0, 3.0, 4.0], "
                "m_f16 = dense<f16[2]>[1.0, -2.0], m_g_bf16 = dense<bf16[2]>[1.0, -5.0], n_bool = "
                "dense<bool[2]>[true, false], "
                "o_i8 = dense<i8[]>[-3], p_block = ^0, \"q odd name\" = 0}\n"
                "}\n");
}

TEST(TextFormatGoldenTest, InitValuesAndQuotedOpTypes) {
  Program p;
  p.main().AddVar(MakeVar("w", DataType::kF32, std::vector<int64_t>{2}, kVarPersistable));
  p.main().AddVar(MakeVar("c", DataType::kF32, std::vector<int64_t>{-1}));
  p.values["w"] = MakeTensor<float>(DataType::kF32, {2}, {1, 2});
  p.values["c"] = MakeTensor<float>(DataType::kF32, {3}, {1, 2, 3});
  p.values["lonely"] = MakeTensor<int64_t>(DataType::kI64, {1}, {7});
  Op quoted;
  quoted.type = "com.ms::Fused Op";
  Op reserved;
  reserved.type = "var";
  p.main().ops = {quoted, reserved};
  EXPECT_EQ(PrintProgram(p), std::string(kEmptyHeader) +
                                 "value %lonely : i64[1]\n"
                                 "block 0 {\n"
                                 "  var %w : f32[2] persistable init\n"
                                 "  var %c : f32[?] init=f32[3]\n"
                                 "  \"com.ms::Fused Op\"()\n"
                                 "  \"var\"()\n"
                                 "}\n");
}

// ---- parsing ----

TEST(TextFormatParseTest, OpLocationIsTheTextPosition) {
  absl::StatusOr<Program> p = ParseProgramText(
      "fleet.program v1\n"
      "block 0 {\n"
      "  var %x : f32[2]\n"
      "    (Y: %y) = Relu(X: %x)\n"
      "  Sink(X: %y) loc(\"m.onnx\" node \"sink\")\n"
      "}\n",
      "prog.txt");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->source, "prog.txt");
  const Op& relu = p->main().ops.at(0);
  EXPECT_EQ(relu.loc.ToString(), "prog.txt:4:5");
  EXPECT_EQ(relu.Describe(), "prog.txt:4:5: op (Relu)");
  const Op& sink = p->main().ops.at(1);
  EXPECT_EQ(sink.loc.file, "m.onnx");
  EXPECT_EQ(sink.loc.node, "sink");
  EXPECT_EQ(sink.loc.line, 0);
}

TEST(TextFormatParseTest, LenientForms) {
  // Comments, free layout, header fields in any order, one-element lists in brackets, ints in
  // a typed float list, and flags after a shape-less type.
  absl::StatusOr<Program> p = ParseProgramText(
      "# a comment\n"
      "fleet.program v1 role=\"trainer\" opset=13  # trailing comment\n"
      "block 0 {\n"
      "  var %x : f32 feed fetch\n"
      "  (Y: [%y]) = Foo(X: [%x])\n"
      "    {scales = floats[1, 2.5], k = 3}\n"
      "}\n",
      "l.txt");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->meta.opset, 13);
  EXPECT_EQ(p->meta.role, "trainer");
  EXPECT_EQ(p->main().FindVar("x")->flags, kVarFeed | kVarFetch);
  const Op& op = p->main().ops.at(0);
  EXPECT_EQ(op.inputs.at(0).vars, std::vector<std::string>{"x"});
  EXPECT_EQ(std::get<std::vector<float>>(op.attrs.at("scales")), (std::vector<float>{1, 2.5f}));
  EXPECT_EQ(std::get<int64_t>(op.attrs.at("k")), 3);
}

TEST(TextFormatParseTest, RoleForwardIsNotNoRole) {
  absl::StatusOr<Program> p = ParseProgramText(
      "fleet.program v2\n"
      "block 0 {\n"
      "  A() role=forward\n"
      "  B()\n"
      "  C() role=backward vars=[(%w, %\"w@GRAD\")]\n"
      "}\n",
      "r.txt");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->main().ops[0].role, kRoleForward);
  EXPECT_TRUE(HasNoRole(p->main().ops[1]));
  EXPECT_TRUE(p->main().ops[2].role_vars == (std::vector<RoleVar>{{"w", "w@GRAD"}}));
  EXPECT_FALSE(p->meta.IsTraining());
}

// Version 1 text keeps version 1's meaning: role 0 was forward in a training program.
TEST(TextFormatParseTest, Version1TrainingProgramGetsForwardRoles) {
  absl::StatusOr<Program> p = ParseProgramText(
      "fleet.program v1 extra={\"training.loss\": \"l\", \"training.step\": \"s\", "
      "\"onnx.graph\": \"g\"}\n"
      "block 0 {\n"
      "  A()\n"
      "  B() role=loss\n"
      "  C() role=backward\n"
      "  D() role=optimize\n"
      "}\n",
      "v1.txt");
  ASSERT_TRUE(p.ok()) << p.status();
  const std::vector<Op>& ops = p->main().ops;
  EXPECT_EQ(ops[0].role, kRoleForward);
  EXPECT_EQ(ops[1].role, kRoleForward | kRoleLoss);
  EXPECT_EQ(ops[2].role, kRoleBackward);
  EXPECT_EQ(ops[3].role, kRoleOptimize);
  EXPECT_EQ(p->meta.training.loss, "l");
  EXPECT_EQ(p->meta.training.step, "s");
  EXPECT_EQ(p->meta.extra.size(), 1u);  // onnx.graph stays
  EXPECT_TRUE(p->meta.IsTraining());
}

TEST(TextFormatParseTest, Version1ModelKeepsNoRole) {
  absl::StatusOr<Program> p =
      ParseProgramText("fleet.program v1\nblock 0 {\n  A()\n  B() role=loss\n}\n", "v1.txt");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_TRUE(HasNoRole(p->main().ops[0]));
  EXPECT_EQ(p->main().ops[1].role, kRoleLoss);
  // Printed as v2, the meaning is kept.
  EXPECT_EQ(PrintProgram(*p), std::string(kEmptyHeader) + "block 0 {\n  A()\n  B() role=loss\n}\n");
}

TEST(TextFormatParseTest, InitRecordsPlaceholderValues) {
  absl::StatusOr<Program> p = ParseProgramText(
      "fleet.program v1\n"
      "value %v : i32[4]\n"
      "block 0 {\n"
      "  var %w : f32[3,2] persistable init\n"
      "  var %c : f32 init=f16[5]\n"
      "}\n"
      "block 1 parent 0 {\n"
      "  var %w : f32[3,2] init\n"
      "}\n",
      "i.txt");
  ASSERT_TRUE(p.ok()) << p.status();
  ASSERT_EQ(p->values.size(), 3u);
  EXPECT_EQ(p->values.at("w"), (TensorValue{DataType::kF32, {3, 2}, ""}));
  EXPECT_EQ(p->values.at("c"), (TensorValue{DataType::kF16, {5}, ""}));
  EXPECT_EQ(p->values.at("v"), (TensorValue{DataType::kI32, {4}, ""}));
}

TEST(TextFormatParseTest, ErrorsNameFileLineAndColumn) {
  const std::string h = "fleet.program v2\n";
  struct Case {
    std::string text;
    std::string message;
  };
  const Case cases[] = {
      {h + "block 0 {\n  (Y: %y) = Relu(X: %x foo)\n}\n",
       "t.txt:3:24: error: expected ')' after slot list, got 'foo'"},
      {"",
       "t.txt:1:1: error: expected 'fleet.program' at the start of a program text, got end "
       "of file"},
      {"fleet.program v3\nblock 0 {}\n",
       "t.txt:1:15: error: unsupported text format version 'v3' (this build reads v1 and v2)"},
      {"fleet.program v2 training={loss=%l, loss=%l}\nblock 0 {}\n",
       "t.txt:1:37: error: training fact 'loss' given twice"},
      {"fleet.program v2 training={lr=%l}\nblock 0 {}\n",
       "t.txt:1:28: error: unknown training fact 'lr' (expected loss, learning_rate, step or "
       "optimizer)"},
      {"fleet.program v2 training={loss=\"l\"}\nblock 0 {}\n",
       "t.txt:1:33: error: expected a var name '%name' for training fact 'loss', got '\"l\"'"},
      {"fleet.program v2 training={step=%\"\"}\nblock 0 {}\n",
       "t.txt:1:33: error: var name is empty for training fact 'step'"},
      {"fleet.program v1 opset=1 opset=2\nblock 0 {}\n",
       "t.txt:1:26: error: header field 'opset' given twice"},
      {"fleet.program v1 colour=\"red\"\nblock 0 {}\n",
       "t.txt:1:18: error: unknown header field 'colour'"},
      {h, "t.txt:2:1: error: program has no blocks (expected 'block 0')"},
      {h + "block 1 {}\n", "t.txt:2:7: error: block number is 1; expected 0"},
      {h + "block 0 {}\nblock 1 parent 1 {}\n",
       "t.txt:3:16: error: parent 1 is out of range (expected an earlier block, 0..0)"},
      {h + "block 0 {\n  var %x : f33[2]\n}\n",
       "t.txt:3:12: error: unknown dtype 'f33' (expected f32, f64, f16, bf16, i64, i32, i8, u8, "
       "bool or undef)"},
      {h + "block 0 {\n  var %x : f32[2]\n  var %x : f32\n}\n",
       "t.txt:4:7: error: var 'x' is declared twice in block 0"},
      {h + "block 0 {\n  var %x : f32[-2]\n}\n", "t.txt:3:16: error: dim -2 is negative"},
      {h + "block 0 {\n  var %x : f32 init\n}\n",
       "t.txt:3:16: error: 'init' on a var of unknown rank needs its type: init=f32[...]"},
      {h + "block 0 {\n  Foo() {body = ^3}\n}\n",
       "t.txt:3:17: error: block reference ^3 is out of range (1 blocks)"},
      {h + "block 0 {\n  Foo() {a = 1, a = 2}\n}\n",
       "t.txt:3:17: error: attribute 'a' is given twice"},
      {h + "block 0 {\n  Foo() {a = []}\n}\n",
       "t.txt:3:14: error: an empty list needs its type: write ints[], floats[] or strings[]"},
      {h + "block 0 {\n  Foo() {a = [1, 2.0]}\n}\n",
       "t.txt:3:18: error: expected an integer in an ints list, got '2.0'"},
      {h + "block 0 {\n  Foo() {a = 99999999999999999999}\n}\n",
       "t.txt:3:14: error: integer '99999999999999999999' is out of range for int64"},
      {h + "block 0 {\n  Foo() {a = 1e39}\n}\n",
       "t.txt:3:14: error: number '1e39' is out of range for f32"},
      {h + "block 0 {\n  Foo() {t = dense<f32[2]>[1.0, 2.0, 3.0]}\n}\n",
       "t.txt:3:38: error: too many elements: the tensor type holds 2"},
      {h + "block 0 {\n  Foo() {t = dense<f32[3]>[1.0]}\n}\n",
       "t.txt:3:27: error: tensor f32 has 1 elements; its shape needs 3"},
      {h + "block 0 {\n  Foo() {t = dense<i8[1]>[200]}\n}\n",
       "t.txt:3:27: error: 200 is out of range for i8"},
      {h + "block 0 {\n  Foo() {t = dense<bool[1]>[1]}\n}\n",
       "t.txt:3:29: error: expected 'true' or 'false' as a bool element, got '1'"},
      {h + "block 0 {\n  Foo() {t = dense<undef[1]>[]}\n}\n",
       "t.txt:3:20: error: tensor has undefined dtype"},
      {h + "block 0 {\n  Foo() role=backward|sideways\n}\n",
       "t.txt:3:23: error: unknown role 'sideways'"},
      {h + "block 0 {\n  Foo() name=\"a\" name=\"b\"\n}\n",
       "t.txt:3:18: error: op has 'name' twice"},
      {h + "block 0 {\n  Foo() vars=[%w, %g]\n}\n",
       "t.txt:3:15: error: expected '(' to start a (parameter, gradient) pair, got '%w'"},
      {h + "block 0 {\n  Foo() vars=[(%w)]\n}\n",
       "t.txt:3:18: error: expected ',' after the parameter of a pair, got ')'"},
      {h + "block 0 {\n  Foo() vars=[(%w, %\"\")]\n}\n",
       "t.txt:3:20: error: var name is empty as the gradient of a pair"},
      {h + "block 0 {\n  Foo() vars=[] vars=[]\n}\n", "t.txt:3:17: error: op has 'vars' twice"},
      {h + "block 0 {\n  (Y: %y) Relu(X: %x)\n}\n",
       "t.txt:3:11: error: expected '=' after the output slots, got 'Relu'"},
      {h + "block 0 {\n  Relu(X: %\"\")\n}\n",
       "t.txt:3:11: error: var name is empty (write 'none' for an absent input)"},
      {h + "block 0 {\n  Relu(X: %x)\n",
       "t.txt:4:1: error: expected '}' to close the block, "
       "got end of file"},
      {h + "block 0 {\n  Foo() {s = \"abc\n}\n",
       "t.txt:3:14: error: unterminated string (strings end with '\"' on the same line)"},
      {h + "block 0 {\n  Foo() {s = \"a\\qb\"}\n}\n",
       "t.txt:3:16: error: unknown escape '\\q' (expected \\\" \\\\ \\n \\t \\r or \\xHH)"},
      {h + "block 0 {\n  Foo() {s = \"\\x4\"}\n}\n",
       "t.txt:3:15: error: expected two hex digits after '\\x'"},
      {h + "block 0 {\n  Foo(X: %x) $\n}\n", "t.txt:3:14: error: unexpected character '$'"},
      {h + "block 0 {\n  Foo(X: %x) \x01\n}\n", "t.txt:3:14: error: unexpected character '\\x01'"},
      {h + "block 0 {\n  Foo() {a = 12abc}\n}\n", "t.txt:3:14: error: malformed number '12a'"},
      {h + "block 0 {\n  var %\"\\xff\" : f32\n}\n",
       "t.txt:3:7: error: var name is not valid UTF-8"},
      {h + "block 0 {\n  Foo() loc()\n}\n",
       "t.txt:3:13: error: expected a file name or 'node \"name\"' in loc(...), got ')'"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.text);
    std::string error = ParseError(c.text);
    EXPECT_EQ(error.substr(0, c.message.size()), c.message) << error;
  }
}

// ---- round trips ----

TEST(TextFormatRoundTripTest, EveryFeature) {
  Program p = MakeEveryFeatureProgram();
  const std::string text = PrintProgram(p);
  absl::StatusOr<Program> back = ParseProgramText(text, "every.txt");
  ASSERT_TRUE(back.ok()) << back.status() << "\n" << text;
  EXPECT_EQ(PrintProgram(*back), text);
  EXPECT_EQ(Canonical(*back, true, true), Canonical(p, true, true));
  // Only value bytes are lost: every value comes back as a placeholder of the same type.
  ASSERT_EQ(back->values.size(), p.values.size());
  for (const auto& [name, value] : p.values) {
    const TensorValue& v = back->values.at(name);
    EXPECT_EQ(v.dtype, value.dtype) << name;
    EXPECT_EQ(v.shape, value.shape) << name;
    EXPECT_TRUE(v.bytes.empty()) << name;
  }
  // Ops without loc(...) now point into the text.
  EXPECT_EQ(back->main().ops.at(2).loc.file, "every.txt");
  EXPECT_GT(back->main().ops.at(2).loc.line, 1);
}

TEST(TextFormatRoundTripTest, ParsedProgramsSurviveBinaryFiles) {
  absl::StatusOr<Program> p = ParseProgramText(PrintProgram(MakeEveryFeatureProgram()), "e.txt");
  ASSERT_TRUE(p.ok()) << p.status();
  absl::StatusOr<Program> bin = ParseProgramBinary(SerializeProgram(*p), "e.bin");
  ASSERT_TRUE(bin.ok()) << bin.status();
  EXPECT_EQ(PrintProgram(*bin), PrintProgram(*p));
}

template <typename T>
std::vector<T> RandomBits(size_t n, uint32_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<T> out(n);
  for (T& v : out) {
    uint64_t bits = rng();
    std::memcpy(&v, &bits, sizeof(T));
  }
  return out;
}

// Every non-NaN f16 and bf16, and random f32/f64 bit patterns (NaN excluded: payloads are not
// kept), read back bit for bit.
TEST(TextFormatRoundTripTest, FloatsAreExact) {
  std::vector<uint16_t> halves, brains;
  for (uint32_t h = 0; h < 65536; ++h) {
    if ((h & 0x7C00) != 0x7C00 || (h & 0x3FF) == 0) halves.push_back(static_cast<uint16_t>(h));
    if ((h & 0x7F80) != 0x7F80 || (h & 0x7F) == 0) brains.push_back(static_cast<uint16_t>(h));
  }
  std::vector<float> floats = RandomBits<float>(5000, 1);
  std::vector<double> doubles = RandomBits<double>(5000, 2);
  for (float& f : floats) {
    if (std::isnan(f)) f = 1.5f;
  }
  for (double& d : doubles) {
    if (std::isnan(d)) d = 1.5;
  }
  floats.push_back(std::numeric_limits<float>::denorm_min());
  floats.push_back(std::numeric_limits<float>::max());
  floats.push_back(-0.0f);
  doubles.push_back(std::numeric_limits<double>::denorm_min());
  Program p;
  Op op;
  op.type = "Consts";
  op.attrs = {
      {"h", MakeTensor<uint16_t>(DataType::kF16, {static_cast<int64_t>(halves.size())}, halves)},
      {"b", MakeTensor<uint16_t>(DataType::kBF16, {static_cast<int64_t>(brains.size())}, brains)},
      {"f", MakeTensor<float>(DataType::kF32, {static_cast<int64_t>(floats.size())}, floats)},
      {"d", MakeTensor<double>(DataType::kF64, {static_cast<int64_t>(doubles.size())}, doubles)},
      {"fs", floats},
  };
  p.main().ops.push_back(op);
  absl::StatusOr<Program> back = ParseProgramText(PrintProgram(p), "f.txt");
  ASSERT_TRUE(back.ok()) << back.status();
  const AttrMap& attrs = back->main().ops.at(0).attrs;
  for (const char* name : {"h", "b", "f", "d"}) {
    EXPECT_TRUE(std::get<TensorValue>(attrs.at(name)) == std::get<TensorValue>(op.attrs.at(name)))
        << name;
  }
  const auto& fs = std::get<std::vector<float>>(attrs.at("fs"));
  ASSERT_EQ(fs.size(), floats.size());
  EXPECT_EQ(std::memcmp(fs.data(), floats.data(), floats.size() * sizeof(float)), 0);
}

// ---- hostile text ----

void ExpectCleanResult(const absl::StatusOr<Program>& r) {
  if (r.ok()) {
    // Whatever parsed prints and parses again.
    std::string text = PrintProgram(*r);
    absl::StatusOr<Program> again = ParseProgramText(text, "again.txt");
    ASSERT_TRUE(again.ok()) << again.status() << "\n" << text;
    EXPECT_EQ(PrintProgram(*again), text);
    // ... and survives a binary file (names must be valid UTF-8 there).
    absl::StatusOr<Program> bin = ParseProgramBinary(SerializeProgram(*r), "again.bin");
    ASSERT_TRUE(bin.ok()) << bin.status() << "\n" << text;
  } else {
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << r.status();
  }
}

TEST(TextFormatHostileTest, EveryPrefixOfAPrintedProgram) {
  Program p = MakeEveryFeatureProgram();
  const std::string text = PrintProgram(p);
  int ok = 0;
  for (size_t n = 0; n <= text.size(); ++n) {
    absl::StatusOr<Program> r = ParseProgramText(std::string_view(text).substr(0, n), "p.txt");
    ok += r.ok();
    ExpectCleanResult(r);
  }
  EXPECT_GT(ok, 0);
}

TEST(TextFormatHostileTest, MutatedAndRandomText) {
  const std::string text = PrintProgram(MakeEveryFeatureProgram());
  std::mt19937 rng(11);
  const std::string alphabet = "%\"\\[](){}<>,:=|?^#-.e0123456789 \nabcxyz_";
  for (int i = 0; i < 1500; ++i) {
    std::string m = text;
    for (int k = 0, edits = 1 + rng() % 4; k < edits; ++k) {
      size_t at = rng() % m.size();
      switch (rng() % 3) {
        case 0:
          m[at] = alphabet[rng() % alphabet.size()];
          break;
        case 1:
          m.erase(at, 1 + rng() % 8);
          break;
        default:
          m.insert(at, 1, static_cast<char>(rng()));
          break;
      }
      if (m.empty()) m = "x";
    }
    ExpectCleanResult(ParseProgramText(m, "m.txt"));
  }
  for (int i = 0; i < 1000; ++i) {
    std::string junk(rng() % 120, '\0');
    for (char& c : junk) c = alphabet[rng() % alphabet.size()];
    ExpectCleanResult(ParseProgramText("fleet.program v1 block 0 {" + junk, "r.txt"));
    for (char& c : junk) c = static_cast<char>(rng());
    ExpectCleanResult(ParseProgramText(junk, "r.txt"));
  }
}

TEST(TextFormatHostileTest, CorpusFiles) {
  const std::string dir = testing_util::CorpusDir();
  const std::pair<const char*, const char*> cases[] = {
      {"unterminated_string.txt", "unterminated_string.txt:1:36: error: unterminated string"},
      {"truncated_program.txt",
       "truncated_program.txt:4:23: error: expected ')' after slot list, got end of file"},
      {"bad_block_ref.txt", "bad_block_ref.txt:3:29: error: block reference ^7 is out of range"},
  };
  for (const auto& [name, message] : cases) {
    std::ifstream in(dir + "/" + name, std::ios::binary);
    ASSERT_TRUE(in.good()) << name;
    std::stringstream text;
    text << in.rdbuf();
    std::string error = ParseError(text.str(), name);
    EXPECT_EQ(error.substr(0, std::strlen(message)), message) << error;
  }
}

}  // namespace
}  // namespace fleet
