#include "ir/onnx/importer.h"

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "ir/meta_keys.h"
#include "ir/onnx/attribute_convert.h"
#include "ir/onnx/opset_upgrade.h"
#include "ir/op_schema.h"
#include "ir/status_macros.h"
#include "ir/verify.h"
#include "onnx/checker.h"
#include "onnx/defs/schema.h"
#include "onnx/shape_inference/implementation.h"

namespace fleet {
namespace {

constexpr int kMinOpset = 1;

// Builds block 0 of a Program from an ONNX graph, node by node.
class GraphImporter {
 public:
  GraphImporter(const std::string& source, const std::string& base_dir, int opset)
      : source_(source), base_dir_(base_dir), opset_(opset) {}

  absl::StatusOr<Program> Import(onnx::ModelProto& model);

 private:
  absl::Status Fail(absl::StatusCode code, const std::string& message) const {
    return absl::Status(code, absl::StrCat(source_, ": ", message));
  }
  absl::Status NodeFail(absl::StatusCode code, const onnx::NodeProto& node,
                        const std::string& name, const std::string& message) const {
    return absl::Status(code, absl::StrCat(source_, ": node '", name, "' (", node.op_type(),
                                           ", opset ", opset_, "): ", message));
  }

  absl::StatusOr<Var> VarFromType(const std::string& name, const onnx::TypeProto* type) const;
  absl::Status DeclareValue(const std::string& name, uint32_t flags, const std::string& user);
  absl::Status ImportNode(const onnx::NodeProto& original, int index);
  std::string AddConstant(const std::string& hint, TensorValue value);
  int RankOf(const std::string& name) const;

  std::string source_;
  std::string base_dir_;
  int opset_;
  Program program_;
  std::map<std::string, const onnx::TypeProto*> types_;
  std::set<std::string> defined_;
  std::set<std::string> op_names_;
};

absl::StatusOr<Var> GraphImporter::VarFromType(const std::string& name,
                                               const onnx::TypeProto* type) const {
  Var var;
  var.name = name;
  if (type == nullptr) return var;  // unknown until run time
  if (!type->has_tensor_type()) {
    return absl::UnimplementedError(absl::StrCat(
        "value '", name, "' is not a tensor (sequence, map or optional), which is unsupported"));
  }
  const auto& tensor = type->tensor_type();
  if (tensor.elem_type() != 0) {
    auto dtype = DataTypeFromOnnx(tensor.elem_type());
    if (!dtype.has_value()) {
      return absl::UnimplementedError(absl::StrCat(
          "value '", name, "' has element type ",
          onnx::TensorProto::DataType_Name(
              static_cast<onnx::TensorProto::DataType>(tensor.elem_type())),
          ", which is unsupported"));
    }
    var.dtype = *dtype;
  }
  if (tensor.has_shape()) {
    std::vector<int64_t> dims;
    for (const auto& d : tensor.shape().dim()) dims.push_back(d.has_dim_value() ? d.dim_value() : -1);
    var.shape = std::move(dims);
  }
  return var;
}

absl::Status GraphImporter::DeclareValue(const std::string& name, uint32_t flags,
                                         const std::string& user) {
  auto it = types_.find(name);
  auto var = VarFromType(name, it == types_.end() ? nullptr : it->second);
  if (!var.ok()) {
    return absl::Status(var.status().code(),
                        absl::StrCat(source_, ": ", user, var.status().message()));
  }
  var->flags |= flags;
  if (Var* existing = program_.main().FindVar(name)) {
    existing->flags |= flags;
    return absl::OkStatus();
  }
  program_.main().AddVar(*std::move(var));
  return absl::OkStatus();
}

std::string GraphImporter::AddConstant(const std::string& hint, TensorValue value) {
  std::string name = hint;
  for (int i = 1; program_.main().FindVar(name) != nullptr || types_.count(name); ++i) {
    name = absl::StrCat(hint, ".", i);
  }
  Var var;
  var.name = name;
  var.dtype = value.dtype;
  var.shape = value.shape;
  var.flags = kVarPersistable;
  program_.main().AddVar(std::move(var));
  program_.values[name] = std::move(value);
  defined_.insert(name);
  return name;
}

int GraphImporter::RankOf(const std::string& name) const {
  const Var* v = program_.main().FindVar(name);
  return v != nullptr && v->shape.has_value() ? static_cast<int>(v->shape->size()) : -1;
}

absl::Status GraphImporter::ImportNode(const onnx::NodeProto& original, int index) {
  std::string name = original.name();
  if (name.empty() || op_names_.count(name)) {
    name = absl::StrCat(original.op_type(), "_", index);
    for (int k = 1; op_names_.count(name); ++k) {
      name = absl::StrCat(original.op_type(), "_", index, ".", k);
    }
  }
  op_names_.insert(name);
  const OpSchema* schema = FindOpSchema(original.op_type());
  FLEET_RET_CHECK(schema != nullptr);  // CheckNodes ran first
  onnx::NodeProto node = original;
  absl::Status upgraded = UpgradeNode(
      node, opset_, [this](const std::string& v) { return RankOf(v); },
      [this](const std::string& v) {
        const Var* var = program_.main().FindVar(v);
        return var != nullptr ? var->dtype : DataType::kUndefined;
      },
      [this](const std::string& hint, TensorValue value) {
        return AddConstant(hint, std::move(value));
      });
  if (!upgraded.ok()) {
    return NodeFail(upgraded.code(), original, name, std::string(upgraded.message()));
  }

  Op op;
  op.type = node.op_type();
  op.name = name;
  op.loc.file = source_;
  op.loc.node = name;
  for (const auto& a : node.attribute()) {
    const AttrSpec* spec = schema->FindAttr(a.name());
    if (spec == nullptr) {
      return NodeFail(absl::StatusCode::kUnimplemented, original, name,
                      absl::StrCat("attribute '", a.name(), "' is unsupported"));
    }
    if (!a.ref_attr_name().empty()) {
      return NodeFail(absl::StatusCode::kUnimplemented, original, name,
                      absl::StrCat("attribute '", a.name(), "' refers to a function attribute, "
                                   "which is unsupported"));
    }
    auto value = AttrValueFromOnnx(a);
    if (!value.ok()) {
      return NodeFail(value.status().code(), original, name, std::string(value.status().message()));
    }
    if (TypeOf(*value) != spec->type) {
      return NodeFail(absl::StatusCode::kInvalidArgument, original, name,
                      absl::StrCat("attribute '", a.name(), "' is ", AttrTypeName(TypeOf(*value)),
                                   "; expected ", AttrTypeName(spec->type)));
    }
    op.attrs[a.name()] = *std::move(value);
  }

  // Positional ONNX inputs onto the schema's slots.
  int pos = 0;
  for (const SlotSpec& spec : schema->inputs) {
    Slot slot{spec.name, {}};
    if (spec.arity == SlotArity::kVariadic) {
      for (; pos < node.input_size(); ++pos) slot.vars.push_back(node.input(pos));
    } else if (pos < node.input_size()) {
      if (!node.input(pos).empty()) slot.vars.push_back(node.input(pos));
      ++pos;
    }
    op.inputs.push_back(std::move(slot));
  }
  if (pos < node.input_size()) {
    return NodeFail(absl::StatusCode::kInvalidArgument, original, name,
                    absl::StrCat("has ", node.input_size(), " inputs; ", op.type, " takes at most ",
                                 pos));
  }
  pos = 0;
  for (const SlotSpec& spec : schema->outputs) {
    Slot slot{spec.name, {}};
    if (spec.arity == SlotArity::kVariadic) {
      for (; pos < node.output_size(); ++pos) slot.vars.push_back(node.output(pos));
    } else if (pos < node.output_size()) {
      if (!node.output(pos).empty()) slot.vars.push_back(node.output(pos));
      ++pos;
    }
    op.outputs.push_back(std::move(slot));
  }
  if (pos < node.output_size()) {
    return NodeFail(absl::StatusCode::kInvalidArgument, original, name,
                    absl::StrCat("has ", node.output_size(), " outputs; ", op.type,
                                 " has at most ", pos));
  }
  for (const std::string& output : op.OutputVars()) {
    if (defined_.count(output)) {
      return NodeFail(absl::StatusCode::kInvalidArgument, original, name,
                      absl::StrCat("output '", output, "' is already produced elsewhere"));
    }
    FLEET_RETURN_IF_ERROR(DeclareValue(
        output, 0, absl::StrCat("node '", name, "' (", op.type, ", opset ", opset_, "): ")));
    defined_.insert(output);
  }
  program_.main().ops.push_back(std::move(op));
  return absl::OkStatus();
}

absl::StatusOr<Program> GraphImporter::Import(onnx::ModelProto& model) {
  const onnx::GraphProto& graph = model.graph();
  for (const auto& v : graph.input()) types_[v.name()] = &v.type();
  for (const auto& v : graph.value_info()) types_[v.name()] = &v.type();
  for (const auto& v : graph.output()) types_[v.name()] = &v.type();
  if (graph.sparse_initializer_size() > 0) {
    return Fail(absl::StatusCode::kUnimplemented, "sparse initializers are unsupported");
  }

  for (auto& init : *model.mutable_graph()->mutable_initializer()) {
    auto value = TakeTensorValueFromOnnx(init, base_dir_);
    if (!value.ok()) {
      return absl::Status(value.status().code(),
                          absl::StrCat(source_, ": initializer: ", value.status().message()));
    }
    Var var;
    var.name = init.name();
    var.dtype = value->dtype;
    var.shape = value->shape;
    var.flags = kVarPersistable;
    if (IsFloatingPoint(value->dtype)) var.flags |= kVarParameter;
    if (!program_.main().AddVar(std::move(var))) {
      return Fail(absl::StatusCode::kInvalidArgument,
                  absl::StrCat("initializer '", init.name(), "' is declared twice"));
    }
    program_.values[init.name()] = *std::move(value);
    defined_.insert(init.name());
  }
  for (const auto& in : graph.input()) {
    if (defined_.count(in.name())) continue;  // an initializer listed as input (IR < 4 style)
    FLEET_RETURN_IF_ERROR(DeclareValue(in.name(), kVarFeed, "graph input: "));
    defined_.insert(in.name());
  }
  for (int i = 0; i < graph.node_size(); ++i) {
    FLEET_RETURN_IF_ERROR(ImportNode(graph.node(i), i));
  }
  for (const auto& out : graph.output()) {
    if (!defined_.count(out.name())) {
      return Fail(absl::StatusCode::kInvalidArgument,
                  absl::StrCat("graph output '", out.name(), "' is not produced by any node"));
    }
    FLEET_RETURN_IF_ERROR(DeclareValue(out.name(), kVarFetch, "graph output: "));
  }

  program_.source = source_;
  program_.meta.opset = kOnnxOpset;
  program_.meta.producer = "fleet onnx import";
  program_.meta.extra[kMetaOnnxOpset] = std::to_string(opset_);
  if (!model.producer_name().empty()) {
    program_.meta.extra[kMetaOnnxProducer] =
        absl::StrCat(model.producer_name(), " ", model.producer_version());
  }
  if (!graph.name().empty()) program_.meta.extra[kMetaOnnxGraph] = graph.name();
  FLEET_RETURN_IF_ERROR(Verify(program_));
  return std::move(program_);
}

// Checks what needs no types before ONNX's checker and shape inference run, so these errors
// come out in Fleet's words: op domains and types Fleet supports, and that every node input is
// produced earlier (no dangling input, no cycle).
absl::Status CheckNodes(const onnx::GraphProto& graph, const std::string& source, int opset) {
  std::set<std::string> defined;
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
    for (const std::string& output : node.output()) defined.insert(output);
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
