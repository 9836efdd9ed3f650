// Fleet's shape inference against ONNX's own: each case is a one-node ONNX model whose output
// is left untyped; the importer runs ONNX's (strict) shape inference and declares the output with
// the type ONNX found, and Fleet's inference over the imported op must give exactly that type.
// Constant inputs (shapes, axes, pads, ...) are initializers.
#include <ostream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "ir/onnx/attribute_convert.h"
#include "ir/onnx/importer.h"
#include "ir/shape_infer.h"
#include "onnx/onnx_pb.h"

namespace fleet {
namespace {

struct Input {
  std::string name;  // "" for an absent optional input
  int elem_type = onnx::TensorProto::FLOAT;
  std::vector<int64_t> dims;    // -1: a symbolic dim ("batch")
  std::vector<int64_t> values;  // non-empty: an int64 initializer with these values
};

struct Case {
  std::string name;
  std::string op;
  std::vector<Input> inputs;
  std::vector<onnx::AttributeProto> attrs;
  int outputs = 1;
};

onnx::AttributeProto Int(const std::string& name, int64_t v) {
  onnx::AttributeProto a;
  a.set_name(name);
  a.set_type(onnx::AttributeProto::INT);
  a.set_i(v);
  return a;
}
onnx::AttributeProto Ints(const std::string& name, std::vector<int64_t> v) {
  onnx::AttributeProto a;
  a.set_name(name);
  a.set_type(onnx::AttributeProto::INTS);
  for (int64_t x : v) a.add_ints(x);
  return a;
}
onnx::AttributeProto Str(const std::string& name, const std::string& v) {
  onnx::AttributeProto a;
  a.set_name(name);
  a.set_type(onnx::AttributeProto::STRING);
  a.set_s(v);
  return a;
}

Input F(std::string name, std::vector<int64_t> dims) {
  return {std::move(name), onnx::TensorProto::FLOAT, std::move(dims), {}};
}
Input I64(std::string name, std::vector<int64_t> dims) {
  return {std::move(name), onnx::TensorProto::INT64, std::move(dims), {}};
}
Input Const(std::string name, std::vector<int64_t> values) {
  return {std::move(name),
          onnx::TensorProto::INT64,
          {static_cast<int64_t>(values.size())},
          std::move(values)};
}

Input Scalar(std::string name, int64_t value) {
  return {std::move(name), onnx::TensorProto::INT64, {}, {value}};
}

onnx::ModelProto Model(const Case& c) {
  onnx::ModelProto m;
  m.set_ir_version(8);
  m.add_opset_import()->set_version(17);
  onnx::GraphProto* g = m.mutable_graph();
  g->set_name(c.name);
  onnx::NodeProto* node = g->add_node();
  node->set_op_type(c.op);
  node->set_name("node");
  for (const Input& in : c.inputs) {
    node->add_input(in.name);
    if (in.name.empty()) continue;
    if (!in.values.empty()) {
      TensorValue t{DataType::kI64, in.dims,
                    std::string(reinterpret_cast<const char*>(in.values.data()),
                                in.values.size() * sizeof(int64_t))};
      *g->add_initializer() = TensorValueToOnnx(t, in.name);
      continue;
    }
    onnx::ValueInfoProto* v = g->add_input();
    v->set_name(in.name);
    auto* t = v->mutable_type()->mutable_tensor_type();
    t->set_elem_type(in.elem_type);
    auto* shape = t->mutable_shape();
    for (int64_t d : in.dims) {
      if (d < 0) {
        shape->add_dim()->set_dim_param("batch");
      } else {
        shape->add_dim()->set_dim_value(d);
      }
    }
  }
  for (int i = 0; i < c.outputs; ++i) {
    const std::string out = "out" + std::to_string(i);
    node->add_output(out);
    g->add_output()->set_name(out);  // untyped: ONNX's inference fills it in
  }
  for (const onnx::AttributeProto& a : c.attrs) *node->add_attribute() = a;
  return m;
}

// Test names and failure messages show the case's name, not its bytes.
void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

class OnnxAgreementTest : public ::testing::TestWithParam<Case> {};

TEST_P(OnnxAgreementTest, FleetInfersWhatOnnxInfers) {
  const Case& c = GetParam();
  OnnxImportOptions options;
  options.run_checker = false;  // the checker wants typed graph outputs
  absl::StatusOr<Program> program = ImportOnnxModel(Model(c), c.name, "", options);
  ASSERT_TRUE(program.ok()) << program.status();
  ASSERT_EQ(program->main().ops.size(), 1u);
  const Op& op = program->main().ops[0];
  InferScope scope(*program, program->main());
  absl::StatusOr<std::vector<InferContext::Result>> results = InferOp(scope, op);
  ASSERT_TRUE(results.ok()) << results.status();
  ASSERT_EQ(static_cast<int>(results->size()), c.outputs);
  for (const InferContext::Result& r : *results) {
    const Var* onnx_type = program->main().FindVar(*r.var);
    ASSERT_NE(onnx_type, nullptr);
    ASSERT_TRUE(onnx_type->shape.has_value()) << "ONNX inferred no shape for " << *r.var;
    ASSERT_TRUE(r.type.has_value()) << "Fleet inferred nothing for " << *r.var;
    EXPECT_EQ(TypeString(*r.type), TypeString(TensorType::Of(*onnx_type))) << *r.var;
  }
}

std::vector<Case> Cases() {
  using P = onnx::TensorProto;
  return {
      {"AddBroadcast", "Add", {F("a", {2, 1, 4}), F("b", {3, 1})}, {}},
      {"AddBatch", "Add", {F("a", {-1, 4}), F("b", {4})}, {}},
      {"Greater", "Greater", {F("a", {3, 1}), F("b", {1, 5})}, {}},
      {"Where", "Where", {{"c", P::BOOL, {4, 1}, {}}, F("x", {3}), F("y", {})}, {}},
      {"SumVariadic", "Sum", {F("a", {3, 1}), F("b", {4}), F("c", {2, 1, 1})}, {}},
      {"Cast", "Cast", {F("x", {2, 3})}, {Int("to", P::INT64)}},
      {"Dropout", "Dropout", {F("x", {4, 5})}, {}, 2},
      {"MatMul", "MatMul", {F("a", {2, 1, 3, 4}), F("b", {5, 4, 6})}, {}},
      {"MatMulVector", "MatMul", {F("a", {8}), F("b", {8, 10})}, {}},
      {"MatMulBatch", "MatMul", {F("a", {-1, 3, 4}), F("b", {4, 5})}, {}},
      {"Gemm",
       "Gemm",
       {F("a", {8, 4}), F("b", {10, 8}), F("c", {10})},
       {Int("transA", 1), Int("transB", 1)}},
      {"ConvPadsStrides",
       "Conv",
       {F("x", {1, 3, 32, 32}), F("w", {16, 3, 3, 3})},
       {Ints("pads", {1, 1, 1, 1}), Ints("strides", {2, 2})}},
      {"ConvDilations",
       "Conv",
       {F("x", {2, 3, 17, 20}), F("w", {4, 3, 3, 2})},
       {Ints("dilations", {2, 3}), Ints("pads", {0, 1, 2, 0})}},
      {"ConvSameUpper",
       "Conv",
       {F("x", {1, 3, 33, 32}), F("w", {8, 3, 3, 3})},
       {Str("auto_pad", "SAME_UPPER"), Ints("strides", {2, 2})}},
      {"ConvSameLowerBigStride",
       "Conv",
       {F("x", {1, 3, 10, 11}), F("w", {8, 3, 2, 2})},
       {Str("auto_pad", "SAME_LOWER"), Ints("strides", {4, 4})}},
      {"ConvValid",
       "Conv",
       {F("x", {1, 3, 32, 32}), F("w", {8, 3, 5, 5})},
       {Str("auto_pad", "VALID"), Ints("strides", {3, 3})}},
      {"ConvGroups",
       "Conv",
       {F("x", {1, 4, 8, 8}), F("w", {6, 2, 3, 3}), F("b", {6})},
       {Int("group", 2)}},
      {"MaxPoolCeil",
       "MaxPool",
       {F("x", {1, 2, 5, 7})},
       {Ints("kernel_shape", {2, 3}), Ints("strides", {2, 2}), Int("ceil_mode", 1)},
       2},
      {"MaxPoolPads",
       "MaxPool",
       {F("x", {-1, 64, 32, 32})},
       {Ints("kernel_shape", {3, 3}), Ints("strides", {2, 2}), Ints("pads", {1, 1, 1, 1})}},
      {"AveragePool",
       "AveragePool",
       {F("x", {1, 2, 9, 9})},
       {Ints("kernel_shape", {3, 3}), Str("auto_pad", "SAME_UPPER"), Ints("strides", {2, 2})}},
      {"GlobalAveragePool", "GlobalAveragePool", {F("x", {-1, 8, 7, 5})}, {}},
      {"BatchNorm",
       "BatchNormalization",
       {F("x", {2, 3, 4, 4}), F("s", {3}), F("b", {3}), F("m", {3}), F("v", {3})},
       {}},
      {"LayerNorm",
       "LayerNormalization",
       {F("x", {2, 5, 8}), F("s", {8}), F("b", {8})},
       {Int("axis", -1)},
       3},
      {"LayerNormAxis1",
       "LayerNormalization",
       {F("x", {2, 5, 8}), F("s", {5, 8})},
       {Int("axis", 1)},
       3},
      {"Softmax", "Softmax", {F("x", {4, 10})}, {Int("axis", 1)}},
      {"SoftmaxCe", "SoftmaxCrossEntropyLoss", {F("s", {4, 10}), I64("l", {4})}, {}, 2},
      {"SoftmaxCeNone",
       "SoftmaxCrossEntropyLoss",
       {F("s", {4, 10, 3}), I64("l", {4, 3})},
       {Str("reduction", "none")},
       2},
      {"NllLoss",
       "NegativeLogLikelihoodLoss",
       {F("s", {4, 10}), I64("l", {4})},
       {Str("reduction", "sum")}},
      {"ReduceMean", "ReduceMean", {F("x", {-1, 32, 64})}, {Ints("axes", {1}), Int("keepdims", 0)}},
      {"ReduceMaxAll", "ReduceMax", {F("x", {2, 3, 4})}, {}},
      {"ReduceSumAxes",
       "ReduceSum",
       {F("x", {2, 3, 4}), Const("axes", {0, -1})},
       {Int("keepdims", 0)}},
      {"ArgMax", "ArgMax", {F("x", {5, 7})}, {Int("axis", 1)}},
      {"Reshape", "Reshape", {F("x", {-1, 32, 64}), Const("s", {0, 0, 4, 16})}, {}},
      {"ReshapeInfer", "Reshape", {F("x", {2, 3, 4}), Const("s", {-1, 4})}, {}},
      {"Flatten", "Flatten", {F("x", {2, 3, 4, 5})}, {Int("axis", 2)}},
      {"Transpose", "Transpose", {F("x", {2, 3, 4, 5})}, {Ints("perm", {0, 2, 3, 1})}},
      {"TransposeReverse", "Transpose", {F("x", {2, 3, 4})}, {}},
      {"Concat", "Concat", {F("a", {2, 3}), F("b", {2, 5}), F("c", {2, 1})}, {Int("axis", 1)}},
      {"Squeeze", "Squeeze", {F("x", {3, 1, 4, 1}), Const("axes", {1})}, {}},
      {"SqueezeAll", "Squeeze", {F("x", {1, 3, 1})}, {}},
      {"Unsqueeze", "Unsqueeze", {F("x", {3, 4}), Const("axes", {0, 3})}, {}},
      {"Slice",
       "Slice",
       {F("x", {10, 20}), Const("st", {1, -5}), Const("en", {8, 1000}), Const("ax", {0, 1}),
        Const("sp", {2, 1})},
       {}},
      {"SliceBackwards",
       "Slice",
       {F("x", {10, 6}), Const("st", {-1}), Const("en", {-1000}), Const("ax", {0}),
        Const("sp", {-3})},
       {}},
      {"Gather", "Gather", {F("d", {100, 16}), I64("i", {-1, 5})}, {}},
      {"GatherAxis1", "Gather", {F("d", {3, 4, 5}), I64("i", {2})}, {Int("axis", 1)}},
      {"GatherElements", "GatherElements", {F("d", {3, 4}), I64("i", {3, 2})}, {Int("axis", 1)}},
      {"Split", "Split", {F("x", {3, 6}), Const("split", {1, 5})}, {Int("axis", 1)}, 2},
      {"SplitEven", "Split", {F("x", {6, 4})}, {}, 3},
      {"Expand", "Expand", {F("x", {3, 1}), Const("s", {2, 1, 4})}, {}},
      {"Tile", "Tile", {F("x", {2, 3}), Const("r", {2, 2})}, {}},
      {"Pad", "Pad", {F("x", {2, 3}), Const("p", {1, 0, 1, 2})}, {}},
      {"Shape", "Shape", {F("x", {-1, 3, 4})}, {Int("start", 1)}},
      {"ConstantOfShape", "ConstantOfShape", {Const("s", {2, 3})}, {}},
      {"TopK", "TopK", {F("x", {4, 10}), Const("k", {3})}, {}, 2},
      {"Range", "Range", {Scalar("a", 0), Scalar("b", 10), Scalar("c", 3)}, {}},
      {"DepthToSpace", "DepthToSpace", {F("x", {1, 8, 2, 3})}, {Int("blocksize", 2)}},
      {"SpaceToDepth", "SpaceToDepth", {F("x", {1, 2, 4, 6})}, {Int("blocksize", 2)}},
  };
}

INSTANTIATE_TEST_SUITE_P(Ops, OnnxAgreementTest, ::testing::ValuesIn(Cases()),
                         [](const ::testing::TestParamInfo<Case>& info) {
                           return info.param.name;
                         });

}  // namespace
}  // namespace fleet
