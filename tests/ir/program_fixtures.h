// Programs for the serialization tests: one that uses every feature of the IR, and a structural
// comparison of programs.
#pragma once

#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "ir/program.h"
#include "ir/serialize.h"

namespace fleet {
namespace testing_util {

template <typename T>
inline TensorValue MakeTensor(DataType dtype, std::vector<int64_t> shape,
                              const std::vector<T>& elems) {
  TensorValue t;
  t.dtype = dtype;
  t.shape = std::move(shape);
  t.bytes.resize(elems.size() * sizeof(T));
  if (!elems.empty()) std::memcpy(t.bytes.data(), elems.data(), t.bytes.size());
  return t;
}

inline Var MakeVar(std::string name, DataType dtype, std::optional<std::vector<int64_t>> shape,
                   uint32_t flags = 0, VarKind kind = VarKind::kDense) {
  Var v;
  v.name = std::move(name);
  v.dtype = dtype;
  v.shape = std::move(shape);
  v.flags = flags;
  v.kind = kind;
  return v;
}

// Blocks, every attribute type, every dtype, a sparse var, flags, roles, (parameter, gradient)
// pairs, training facts, names that need quotes, absent inputs, variadic and empty slots,
// locations, and values with and without a var.
inline Program MakeEveryFeatureProgram() {
  Program p;
  p.meta.opset = 17;
  p.meta.producer = "onnx-import \"v1\"";
  p.meta.strategy = "ps";
  p.meta.role = "trainer";
  p.meta.endpoints = {"127.0.0.1:6000", "127.0.0.1:6001"};
  p.meta.extra = {{"a", "1"}, {"key with space", "line\nbreak"}};
  p.meta.training = {"loss", "a \"quoted\" name/with:odd\\chars \xe6\x9d\x83", "i32", "fleet.sgd"};

  Block& b0 = p.main();
  b0.AddVar(MakeVar("x", DataType::kF32, std::vector<int64_t>{-1, 784}, kVarFeed));
  b0.AddVar(MakeVar("fc1.w", DataType::kF32, std::vector<int64_t>{784, 128},
                    kVarPersistable | kVarParameter | kVarTrainable));
  b0.AddVar(MakeVar("onnx::MatMul_5", DataType::kF32, std::vector<int64_t>{-1, 128}));
  b0.AddVar(MakeVar("ids", DataType::kI64, std::nullopt, 0, VarKind::kSparseRows));
  b0.AddVar(MakeVar("loss", DataType::kF64, std::vector<int64_t>{}, kVarFetch));
  b0.AddVar(MakeVar("h", DataType::kF16, std::vector<int64_t>{2}));
  b0.AddVar(MakeVar("mask", DataType::kBool, std::vector<int64_t>{3}));
  b0.AddVar(MakeVar("i32", DataType::kI32, std::vector<int64_t>{0}));
  b0.AddVar(MakeVar("i8", DataType::kI8, std::vector<int64_t>{1, 1}));
  b0.AddVar(MakeVar("u8", DataType::kU8, std::vector<int64_t>{}));
  b0.AddVar(MakeVar("unknown", DataType::kUndefined, std::nullopt));
  b0.AddVar(MakeVar("a \"quoted\" name/with:odd\\chars \xe6\x9d\x83", DataType::kF32,
                    std::vector<int64_t>{1}));
  b0.AddVar(MakeVar("c", DataType::kF32, std::vector<int64_t>{-1}, kVarPersistable));
  b0.AddVar(MakeVar("y", DataType::kF32, std::nullopt));
  b0.AddVar(MakeVar("mean", DataType::kF32, std::nullopt));

  Op matmul;
  matmul.type = "MatMul";
  matmul.name = "fc1";
  matmul.inputs = {{"A", {"x"}}, {"B", {"fc1.w"}}};
  matmul.outputs = {{"Y", {"onnx::MatMul_5"}}};
  matmul.loc.file = "model.onnx";
  matmul.loc.node = "fc1";
  b0.ops.push_back(matmul);

  Op ln;
  ln.type = "LayerNormalization";
  ln.inputs = {{"X", {"onnx::MatMul_5"}}, {"Scale", {"c"}}, {"B", {""}}};
  ln.outputs = {{"Y", {"y"}}, {"Mean", {"mean"}}, {"InvStdDev", {}}};
  ln.attrs = {{"axis", int64_t{-1}}, {"epsilon", 1e-5f}};
  ln.loc.node = "ln";
  b0.ops.push_back(ln);

  Op attrs;  // every attribute type and tensor dtype
  attrs.type = "fleet.every_attr";
  attrs.inputs = {{"inputs", {"x", "", "y"}}, {"empty", {}}, {"one in list", {"mean"}}};
  attrs.outputs = {};
  attrs.attrs = {
      {"i", int64_t{1}},
      {"i_min", std::numeric_limits<int64_t>::min()},
      {"f", 0.1f},
      {"f_one", 1.0f},
      {"f_negzero", -0.0f},
      {"f_inf", std::numeric_limits<float>::infinity()},
      {"f_ninf", -std::numeric_limits<float>::infinity()},
      {"f_nan", std::numeric_limits<float>::quiet_NaN()},
      {"f_denorm", std::numeric_limits<float>::denorm_min()},
      {"f_big", 1e30f},
      {"s", std::string("tab\tnl\nquote\"bs\\ctl\x01 bin\xff utf8 \xe6\x9d\x83")},
      {"s_empty", std::string()},
      {"ints", std::vector<int64_t>{1, -2, 3}},
      {"ints_empty", std::vector<int64_t>{}},
      {"floats", std::vector<float>{1.0f, -2.5f, 3e-8f}},
      {"floats_empty", std::vector<float>{}},
      {"strings", std::vector<std::string>{"a", "", "c,d]"}},
      {"strings_empty", std::vector<std::string>{}},
      {"t_f32", MakeTensor<float>(DataType::kF32, {2, 2}, {1.0f, 2.5f, -3.0f, 0.1f})},
      {"t_f64", MakeTensor<double>(DataType::kF64, {2}, {0.1, -1e300})},
      {"t_f16", MakeTensor<uint16_t>(DataType::kF16, {3}, {0x3C00, 0x0001, 0xFBFF})},
      {"t_i64",
       MakeTensor<int64_t>(DataType::kI64, {2}, {std::numeric_limits<int64_t>::min(), 42})},
      {"t_i32", MakeTensor<int32_t>(DataType::kI32, {1}, {-7})},
      {"t_i8", MakeTensor<int8_t>(DataType::kI8, {2}, {-128, 127})},
      {"t_u8", MakeTensor<uint8_t>(DataType::kU8, {2}, {0, 255})},
      {"t_bool", MakeTensor<uint8_t>(DataType::kBool, {3}, {1, 0, 1})},
      {"t_scalar", MakeTensor<float>(DataType::kF32, {}, {4.0f})},
      {"t_empty", MakeTensor<float>(DataType::kF32, {0, 3}, {})},
      {"body", BlockRef{1}},
      {"weird attr name", int64_t{0}},
  };
  attrs.role = kRoleBackward | kRoleLoss;
  attrs.device = "cpu:0";
  b0.ops.push_back(attrs);

  Op send;  // no outputs, all roles, quoted op type
  send.type = "com.example::Send";
  send.name = "send \"x\"";
  send.inputs = {{"X", {"x"}}};
  send.role = kKnownRoles;
  send.loc.file = "model.onnx";
  b0.ops.push_back(send);

  Op reserved;  // an op type that is a keyword of the text form
  reserved.type = "var";
  reserved.inputs = {{"none", {"x"}}};
  reserved.outputs = {{"Y", {"y"}}};
  b0.ops.push_back(reserved);

  int b1 = p.AddBlock(0);
  p.blocks[b1].AddVar(MakeVar("x", DataType::kF32, std::vector<int64_t>{-1, 784}));
  p.blocks[b1].AddVar(
      MakeVar("fc1.w", DataType::kF32, std::vector<int64_t>{784, 128}, kVarPersistable));
  Op feed;  // an op type spelled like a var flag, right after a var
  feed.type = "feed";
  feed.inputs = {{"X", {"x"}}};
  p.blocks[b1].ops.push_back(feed);
  Op sgd;
  sgd.type = "fleet.sgd";
  sgd.inputs = {{"Param", {"fc1.w"}}, {"Grad", {"x"}}};
  sgd.outputs = {{"ParamOut", {"fc1.w"}}};
  sgd.attrs = {{"lr", 0.01f}};
  sgd.role = kRoleOptimize;
  sgd.role_vars = {{"fc1.w", "x"}, {"x", "a \"quoted\" name/with:odd\\chars \xe6\x9d\x83"}};
  p.blocks[b1].ops.push_back(sgd);
  p.AddBlock(1);  // an empty block

  std::vector<float> w(784 * 128);
  for (size_t i = 0; i < w.size(); ++i) w[i] = static_cast<float>(i % 97) * 0.25f;
  p.values["fc1.w"] = MakeTensor<float>(DataType::kF32, {784, 128}, w);
  p.values["c"] = MakeTensor<float>(DataType::kF32, {4}, {1, 2, 3, 4});
  p.values["orphan \"value\""] = MakeTensor<int64_t>(DataType::kI64, {2, 1}, {5, 6});
  return p;
}

// tests/corpus/ir in the source tree: from FLEET_SOURCE_DIR (set by CTest), else from this
// file's path.
inline std::string CorpusDir() {
  const char* root = std::getenv("FLEET_SOURCE_DIR");
  if (root != nullptr) return std::string(root) + "/tests/corpus/ir";
  std::string here = __FILE__;  // .../tests/ir/program_fixtures.h
  return here.substr(0, here.rfind('/')) + "/../corpus/ir";
}

// Canonical bytes for structural comparison: value bytes dropped when `drop_value_bytes`,
// text positions (line > 0) dropped when `drop_text_positions`.
inline std::string Canonical(Program p, bool drop_value_bytes, bool drop_text_positions) {
  if (drop_value_bytes) {
    for (auto& [name, value] : p.values) value.bytes.clear();
  }
  if (drop_text_positions) {
    for (Block& b : p.blocks) {
      for (Op& op : b.ops) {
        if (op.loc.line > 0) op.loc = Location{};
      }
    }
  }
  return SerializeProgram(p);
}

}  // namespace testing_util
}  // namespace fleet
