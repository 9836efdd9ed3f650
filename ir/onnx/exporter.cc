#include "ir/onnx/exporter.h"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <set>

#include "absl/strings/str_cat.h"
#include "ir/meta_keys.h"
#include "ir/onnx/attribute_convert.h"
#include "ir/op_schema.h"
#include "ir/status_macros.h"

namespace fleet {
namespace {

void SetType(const Var& var, onnx::ValueInfoProto* info) {
  info->set_name(var.name);
  auto* tensor = info->mutable_type()->mutable_tensor_type();
  tensor->set_elem_type(DataTypeToOnnx(var.dtype));
  if (!var.shape.has_value()) return;
  auto* shape = tensor->mutable_shape();
  for (int64_t d : *var.shape) {
    auto* dim = shape->add_dim();
    if (d >= 0) dim->set_dim_value(d);
  }
}

absl::StatusOr<onnx::AttributeProto> AttrToOnnx(const std::string& name, const AttrValue& value) {
  onnx::AttributeProto a;
  a.set_name(name);
  if (const auto* i = std::get_if<int64_t>(&value)) {
    a.set_type(onnx::AttributeProto::INT);
    a.set_i(*i);
  } else if (const auto* f = std::get_if<float>(&value)) {
    a.set_type(onnx::AttributeProto::FLOAT);
    a.set_f(*f);
  } else if (const auto* s = std::get_if<std::string>(&value)) {
    a.set_type(onnx::AttributeProto::STRING);
    a.set_s(*s);
  } else if (const auto* is = std::get_if<std::vector<int64_t>>(&value)) {
    a.set_type(onnx::AttributeProto::INTS);
    for (int64_t v : *is) a.add_ints(v);
  } else if (const auto* fs = std::get_if<std::vector<float>>(&value)) {
    a.set_type(onnx::AttributeProto::FLOATS);
    for (float v : *fs) a.add_floats(v);
  } else if (const auto* ss = std::get_if<std::vector<std::string>>(&value)) {
    a.set_type(onnx::AttributeProto::STRINGS);
    for (const std::string& v : *ss) a.add_strings(v);
  } else if (const auto* t = std::get_if<TensorValue>(&value)) {
    a.set_type(onnx::AttributeProto::TENSOR);
    *a.mutable_t() = TensorValueToOnnx(*t, "");
  } else {
    return absl::UnimplementedError(absl::StrCat("attribute '", name, "' has no ONNX form"));
  }
  return a;
}

// Writes `block` into `graph`: feed vars are its inputs and fetch vars its outputs (in
// declaration order), initial values its initializers; a BlockRef attribute becomes a GRAPH
// attribute holding the referenced block, written the same way.
absl::Status ExportBlock(const Program& program, const Block& block, onnx::GraphProto* graph) {
  for (const Var& var : block.vars()) {
    auto value = program.values.find(var.name);
    bool has_value = value != program.values.end();
    if (has_value && value->second.bytes.size() != static_cast<size_t>(value->second.NumElements()) *
                                                       DataTypeSize(value->second.dtype)) {
      return absl::FailedPreconditionError(absl::StrCat(
          "var '", var.name, "' has no value bytes (a program read from text form?)"));
    }
    if (var.Has(kVarFeed)) {
      // A subgraph input may leave its type to inference (a Loop's carried values).
      if (block.index() > 0 && var.dtype == DataType::kUndefined) {
        graph->add_input()->set_name(var.name);
      } else {
        SetType(var, graph->add_input());
      }
    } else if (has_value) {
      *graph->add_initializer() = TensorValueToOnnx(value->second, var.name);
    } else if (var.dtype != DataType::kUndefined && !var.Has(kVarFetch)) {
      SetType(var, graph->add_value_info());
    }
    if (var.Has(kVarFetch)) SetType(var, graph->add_output());
  }
  for (const Op& op : block.ops) {
    const OpSchema* schema = FindOpSchema(op.type);
    if (schema == nullptr || !schema->from_onnx) {
      return absl::UnimplementedError(
          absl::StrCat(op.Describe(), ": not an ONNX op, so it cannot be exported"));
    }
    onnx::NodeProto* node = graph->add_node();
    node->set_op_type(op.type);
    node->set_name(op.name);
    for (const std::string& v : PositionalVars(op.inputs, &schema->inputs)) node->add_input(v);
    for (const std::string& v : PositionalVars(op.outputs, &schema->outputs)) node->add_output(v);
    std::vector<std::pair<int, std::string>> graphs;  // (block, attribute)
    for (const auto& [name, value] : op.attrs) {
      if (const BlockRef* ref = std::get_if<BlockRef>(&value)) {
        graphs.emplace_back(ref->index, name);
        continue;
      }
      auto attr = AttrToOnnx(name, value);
      if (!attr.ok()) {
        return absl::Status(attr.status().code(),
                            absl::StrCat(op.Describe(), ": ", attr.status().message()));
      }
      *node->add_attribute() = *std::move(attr);
    }
    // In block order, so that importing the model again numbers the blocks the same way.
    std::sort(graphs.begin(), graphs.end());
    for (const auto& [index, name] : graphs) {
      if (index <= 0 || index >= static_cast<int>(program.blocks.size())) {
        return absl::InvalidArgumentError(absl::StrCat(op.Describe(), ": attribute '", name,
                                                       "' refers to block ", index,
                                                       ", which does not exist"));
      }
      onnx::AttributeProto* a = node->add_attribute();
      a->set_name(name);
      a->set_type(onnx::AttributeProto::GRAPH);
      a->mutable_g()->set_name(absl::StrCat(op.name.empty() ? op.type : op.name, ".", name));
      FLEET_RETURN_IF_ERROR(ExportBlock(program, program.blocks[index], a->mutable_g()));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<onnx::ModelProto> ExportOnnxModel(const Program& program) {
  onnx::ModelProto model;
  model.set_ir_version(8);
  model.set_producer_name("fleet");
  auto* opset = model.add_opset_import();
  opset->set_domain("");
  opset->set_version(kOnnxOpset);
  onnx::GraphProto* graph = model.mutable_graph();
  auto graph_name = program.meta.extra.find(kMetaOnnxGraph);
  graph->set_name(graph_name != program.meta.extra.end() ? graph_name->second : "fleet");
  FLEET_RETURN_IF_ERROR(ExportBlock(program, program.main(), graph));
  return model;
}

absl::Status ExportOnnxFile(const Program& program, const std::string& path) {
  FLEET_ASSIGN_OR_RETURN(onnx::ModelProto model, ExportOnnxModel(program));
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out || !model.SerializeToOstream(&out)) {
      return absl::PermissionDeniedError(absl::StrCat(path, ": cannot write file"));
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    return absl::DataLossError(absl::StrCat(path, ": cannot rename the temporary file"));
  }
  return absl::OkStatus();
}

}  // namespace fleet
