#include "ir/onnx/importer.h"

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "ir/onnx/attribute_convert.h"
#include "ir/onnx/graph_importer.h"
#include "ir/op_schema.h"
#include "ir/status_macros.h"
#include "ir/text_syntax.h"
#include "onnx/checker.h"
#include "onnx/defs/schema.h"
#include "onnx/shape_inference/implementation.h"

namespace fleet {
namespace {

constexpr int kMinOpset = 1;

// Checks what needs no types before ONNX's checker and shape inference run, so these errors
// come out in Fleet's words: op domains and types Fleet supports, and that every node input is
// produced earlier (no dangling input, no cycle). Subgraphs (If, Loop, Scan) are checked too;
// they see `defined`, the names of their enclosing scopes.
absl::Status CheckNodes(const onnx::GraphProto& graph, const std::string& source, int opset,
                        std::set<std::string> defined = {}) {
  for (const auto& v : graph.input()) defined.insert(v.name());
  for (const auto& v : graph.initializer()) defined.insert(v.name());
  for (int i = 0; i < graph.node_size(); ++i) {
    const onnx::NodeProto& node = graph.node(i);
    std::string where =
        absl::StrCat(source, ": node '", node.name().empty() ? absl::StrCat(node.op_type(), "_", i)
                                                             : node.name(),
                     "' (", node.op_type(), ", opset ", opset, "): ");
    if (!node.domain().empty() && node.domain() != "ai.onnx") {
      return absl::UnimplementedError(
          absl::StrCat(where, "op domain '", node.domain(), "' is unsupported"));
    }
    const OpSchema* schema = FindOpSchema(node.op_type());
    if (schema == nullptr || !schema->from_onnx) {
      return absl::UnimplementedError(absl::StrCat(where, "unsupported op"));
    }
    for (const std::string& input : node.input()) {
      if (!input.empty() && !defined.count(input)) {
        return absl::InvalidArgumentError(absl::StrCat(
            where, "input '", input,
            "' is not produced by any earlier node, graph input or initializer (dangling input "
            "or cycle)"));
      }
    }
    for (const auto& a : node.attribute()) {
      if (a.type() == onnx::AttributeProto::GRAPH) {
        FLEET_RETURN_IF_ERROR(CheckNodes(a.g(), source, opset, defined));
      }
    }
    for (const std::string& output : node.output()) defined.insert(output);
  }
  return absl::OkStatus();
}

// Checks that every name that becomes part of the program (graph, producer, value, node and
// attribute names, in subgraphs too) is valid UTF-8, as Fleet's program files require; ONNX's
// own protobuf (proto2) does not check it. String attribute values are bytes and may hold
// anything.
absl::Status CheckUtf8(const std::string& source, const std::string& what,
                       const std::string& name) {
  if (text::IsValidUtf8(name)) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      source, ": ", what, " ", text::Quote(name),
      " is not valid UTF-8 (hint: Fleet program names must be UTF-8; rename it in the model)"));
}

absl::Status CheckNamesAreUtf8(const onnx::GraphProto& graph, const std::string& source) {
  auto check = [&](const std::string& what, const std::string& name) {
    return CheckUtf8(source, what, name);
  };
  FLEET_RETURN_IF_ERROR(check("graph name", graph.name()));
  for (const auto* values : {&graph.input(), &graph.output(), &graph.value_info()}) {
    for (const auto& v : *values) FLEET_RETURN_IF_ERROR(check("value name", v.name()));
  }
  for (const auto& init : graph.initializer()) {
    FLEET_RETURN_IF_ERROR(check("initializer name", init.name()));
  }
  for (const auto& node : graph.node()) {
    FLEET_RETURN_IF_ERROR(check("node name", node.name()));
    for (const std::string& name : node.input()) FLEET_RETURN_IF_ERROR(check("node input", name));
    for (const std::string& name : node.output()) {
      FLEET_RETURN_IF_ERROR(check("node output", name));
    }
    for (const auto& a : node.attribute()) {
      FLEET_RETURN_IF_ERROR(check("attribute name", a.name()));
      if (a.has_g()) FLEET_RETURN_IF_ERROR(CheckNamesAreUtf8(a.g(), source));
      for (const auto& g : a.graphs()) FLEET_RETURN_IF_ERROR(CheckNamesAreUtf8(g, source));
    }
  }
  return absl::OkStatus();
}

// Moves external initializer data into raw_data so the checker and importer see plain tensors.
absl::Status InlineExternalData(onnx::ModelProto& model, const std::string& source,
                                const std::string& base_dir) {
  for (auto& init : *model.mutable_graph()->mutable_initializer()) {
    if (init.data_location() != onnx::TensorProto::EXTERNAL) continue;
    auto value = TensorValueFromOnnx(init, base_dir);
    if (!value.ok()) {
      return absl::Status(value.status().code(),
                          absl::StrCat(source, ": initializer: ", value.status().message()));
    }
    init.clear_external_data();
    init.set_data_location(onnx::TensorProto::DEFAULT);
    init.set_raw_data(std::move(value->bytes));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<Program> ImportOnnxModel(onnx::ModelProto model, const std::string& source,
                                        const std::string& base_dir,
                                        const OnnxImportOptions& options) {
  int opset = -1;
  for (const auto& o : model.opset_import()) {
    if (o.domain().empty() || o.domain() == "ai.onnx") opset = static_cast<int>(o.version());
  }
  if (!model.has_graph()) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": not an ONNX model (no graph)"));
  }
  if (opset < 0) {
    return absl::UnimplementedError(absl::StrCat(
        source, ": model imports no default-domain (ai.onnx) opset; other domains are "
                "unsupported"));
  }
  if (opset < kMinOpset || opset > kOnnxOpset) {
    return absl::UnimplementedError(absl::StrCat(source, ": opset ", opset,
                                                 " is unsupported (Fleet reads opsets ",
                                                 kMinOpset, " to ", kOnnxOpset, ")"));
  }
  FLEET_RETURN_IF_ERROR(CheckUtf8(source, "producer name", model.producer_name()));
  FLEET_RETURN_IF_ERROR(CheckUtf8(source, "producer version", model.producer_version()));
  FLEET_RETURN_IF_ERROR(CheckNamesAreUtf8(model.graph(), source));
  FLEET_RETURN_IF_ERROR(CheckNodes(model.graph(), source, opset));
  FLEET_RETURN_IF_ERROR(InlineExternalData(model, source, base_dir));
  try {
    if (options.run_checker) onnx::checker::check_model(model);
    // Strict: a node whose shapes cannot work (e.g. operands that cannot broadcast) is an
    // error now rather than at run time.
    onnx::ShapeInferenceOptions strict(/*check_type_val=*/true, /*strict_mode_val=*/1);
    onnx::shape_inference::InferShapes(model, onnx::OpSchemaRegistry::Instance(), strict);
  } catch (const std::exception& e) {
    std::string what = e.what();
    while (!what.empty() && (what.back() == '\n' || what.back() == ' ')) what.pop_back();
    return absl::InvalidArgumentError(absl::StrCat(source, ": invalid ONNX model: ", what));
  }
  return GraphImporter(source, base_dir, opset).Import(model);
}

absl::StatusOr<Program> ImportOnnxFile(const std::string& path, const OnnxImportOptions& options) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot open file"));
  onnx::ModelProto model;
  // Parsed straight from the stream: no second copy of a large model in memory.
  if (in.peek() == std::ifstream::traits_type::eof() || !model.ParseFromIstream(&in)) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": not an ONNX model (the file is truncated or not protobuf)"));
  }
  std::string base_dir = std::filesystem::path(path).parent_path().string();
  if (base_dir.empty()) base_dir = ".";
  return ImportOnnxModel(std::move(model), path, base_dir, options);
}

}  // namespace fleet
