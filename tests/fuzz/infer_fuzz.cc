// Fuzzes inference the way fleet-run --infer runs it: a small fixed model, imported from ONNX and
// prepared once, is run on input tensors read from fuzzed .npy bytes, whose headers declare any
// dtype and shape. Kernels must refuse what does not fit the model (a wrong dtype, rank or
// width; a Gather id out of range) with a status, never read or write outside a tensor.
//
// Model: y = Softmax(Relu(MatMul(x, w) + b)) with x : f32[batch, 4], w : f32[4, 3], b : f32[3];
// e = Gather(table, ids) with table : f32[10, 2], ids : i64[n].
// Input: a 2-byte little-endian length L, then L bytes of x's .npy, then ids' .npy.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <utility>

#include "executor/executor.h"
#include "executor/npy.h"
#include "executor/scope.h"
#include "ir/onnx/importer.h"
#include "kernels/cpu/register.h"
#include "onnx/onnx_pb.h"

namespace {

void AddValueInfo(google::protobuf::RepeatedPtrField<onnx::ValueInfoProto>* list,
                  const std::string& name, int elem_type, const std::vector<std::string>& dims) {
  onnx::ValueInfoProto* v = list->Add();
  v->set_name(name);
  auto* type = v->mutable_type()->mutable_tensor_type();
  type->set_elem_type(elem_type);
  for (const std::string& d : dims) {
    auto* dim = type->mutable_shape()->add_dim();
    if (d[0] >= '0' && d[0] <= '9') {
      dim->set_dim_value(std::stoll(d));
    } else {
      dim->set_dim_param(d);
    }
  }
}

void AddFloats(onnx::GraphProto* g, const std::string& name, std::vector<int64_t> dims) {
  onnx::TensorProto* t = g->add_initializer();
  t->set_name(name);
  t->set_data_type(onnx::TensorProto::FLOAT);
  int64_t n = 1;
  for (int64_t d : dims) {
    t->add_dims(d);
    n *= d;
  }
  for (int64_t i = 0; i < n; ++i) t->add_float_data(0.1f * static_cast<float>(i % 7) - 0.3f);
}

void AddNode(onnx::GraphProto* g, const std::string& type, std::vector<std::string> inputs,
             const std::string& output) {
  onnx::NodeProto* n = g->add_node();
  n->set_op_type(type);
  n->set_name(output);
  for (const std::string& in : inputs) n->add_input(in);
  n->add_output(output);
}

struct Model {
  fleet::Program program;
  fleet::KernelTable kernels;
  std::unique_ptr<fleet::Executor> executor;
  fleet::Scope params;
};

Model* MakeModel() {
  onnx::ModelProto m;
  m.set_ir_version(8);
  m.add_opset_import()->set_version(17);
  onnx::GraphProto* g = m.mutable_graph();
  g->set_name("infer_fuzz");
  AddValueInfo(g->mutable_input(), "x", onnx::TensorProto::FLOAT, {"batch", "4"});
  AddValueInfo(g->mutable_input(), "ids", onnx::TensorProto::INT64, {"n"});
  AddFloats(g, "w", {4, 3});
  AddFloats(g, "b", {3});
  AddFloats(g, "table", {10, 2});
  AddNode(g, "MatMul", {"x", "w"}, "xw");
  AddNode(g, "Add", {"xw", "b"}, "h");
  AddNode(g, "Relu", {"h"}, "r");
  AddNode(g, "Softmax", {"r"}, "y");
  AddNode(g, "Gather", {"table", "ids"}, "e");
  AddValueInfo(g->mutable_output(), "y", onnx::TensorProto::FLOAT, {"batch", "3"});
  AddValueInfo(g->mutable_output(), "e", onnx::TensorProto::FLOAT, {"n", "2"});
  auto program = fleet::ImportOnnxModel(std::move(m), "infer_fuzz.onnx", "");
  if (!program.ok()) std::abort();
  auto* model = new Model;
  model->program = *std::move(program);
  fleet::RegisterCpuKernels(model->kernels);
  fleet::SetCpuMathThreads(1);
  fleet::ExecutorOptions options;
  options.num_threads = 1;
  auto executor = fleet::Executor::Create(model->program, model->kernels, options);
  if (!executor.ok()) std::abort();
  model->executor = *std::move(executor);
  fleet::MoveValuesIntoScope(model->program, model->params);
  return model;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Model* const model = MakeModel();  // prepared once, as fleet-run prepares it
  if (size < 2) return 0;
  const size_t x_size = std::min<size_t>(data[0] | (data[1] << 8), size - 2);
  const std::string x_bytes(reinterpret_cast<const char*>(data) + 2, x_size);
  const std::string ids_bytes(reinterpret_cast<const char*>(data) + 2 + x_size, size - 2 - x_size);
  auto x = fleet::ParseNpy(x_bytes, "x.npy");
  auto ids = fleet::ParseNpy(ids_bytes, "ids.npy");
  if (!x.ok() || !ids.ok()) return 0;
  fleet::Scope scope(&model->params);
  scope.Set("x", *std::move(x));
  scope.Set("ids", *std::move(ids));
  (void)model->executor->Run(scope);  // any status is fine; a crash or a bad access is not
  return 0;
}
