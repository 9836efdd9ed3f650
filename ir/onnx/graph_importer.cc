// Imports the main ONNX graph into block 0 (see graph_importer.h).
#include "ir/onnx/graph_importer.h"

#include "absl/strings/str_cat.h"
#include "ir/meta_keys.h"
#include "ir/onnx/attribute_convert.h"
#include "ir/onnx/opset_upgrade.h"
#include "ir/op_schema.h"
#include "ir/status_macros.h"
#include "ir/verify.h"

namespace fleet {

absl::StatusOr<Var> GraphImporter::VarFromType(const std::string& name,
                                               const onnx::TypeProto* type) const {
  Var var;
  var.name = name;
  // Unknown until run time (a subgraph input may leave its type empty).
  if (type == nullptr || type->value_case() == onnx::TypeProto::VALUE_NOT_SET) return var;
  if (!type->has_tensor_type()) {
    return absl::UnimplementedError(absl::StrCat(
        "value '", name, "' is not a tensor (sequence, map or optional), which is unsupported"));
  }
  const auto& tensor = type->tensor_type();
  if (tensor.elem_type() != 0) {
    auto dtype = DataTypeFromOnnx(tensor.elem_type());
    if (!dtype.has_value()) {
      return absl::UnimplementedError(
          absl::StrCat("value '", name, "' has element type ",
                       onnx::TensorProto::DataType_Name(
                           static_cast<onnx::TensorProto::DataType>(tensor.elem_type())),
                       ", which is unsupported"));
    }
    var.dtype = *dtype;
  }
  if (tensor.has_shape()) {
    std::vector<int64_t> dims;
    for (const auto& d : tensor.shape().dim()) {
      dims.push_back(d.has_dim_value() ? d.dim_value() : -1);
    }
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
  if (Var* existing = block().FindVar(name)) {
    existing->flags |= flags;
    return absl::OkStatus();
  }
  block().AddVar(*std::move(var));
  return absl::OkStatus();
}

absl::Status GraphImporter::DeclareInitializer(onnx::TensorProto& init) {
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
  // Values are keyed by name program-wide, so a subgraph's initializer needs a unique name.
  if (program_.values.count(init.name()) || !block().AddVar(std::move(var))) {
    return Fail(absl::StatusCode::kInvalidArgument,
                absl::StrCat("initializer '", init.name(), "' is declared twice"));
  }
  program_.values[init.name()] = *std::move(value);
  defined_.insert(init.name());
  return absl::OkStatus();
}

// Constants go to block 0, where every block sees them.
std::string GraphImporter::AddConstant(const std::string& hint, TensorValue value) {
  std::string name = hint;
  for (int i = 1; DeclaredAnywhere(name) || types_.count(name); ++i) {
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

const Var* GraphImporter::FindVisible(const std::string& name) const {
  for (int b = block_; b >= 0; b = program_.blocks[b].parent()) {
    if (const Var* v = program_.blocks[b].FindVar(name)) return v;
  }
  return nullptr;
}

bool GraphImporter::DeclaredAnywhere(const std::string& name) const {
  for (const Block& b : program_.blocks) {
    if (b.FindVar(name) != nullptr) return true;
  }
  return false;
}

int GraphImporter::RankOf(const std::string& name) const {
  const Var* v = FindVisible(name);
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
        const Var* var = FindVisible(v);
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
                      absl::StrCat("attribute '", a.name(),
                                   "' refers to a function attribute, "
                                   "which is unsupported"));
    }
    if (a.type() == onnx::AttributeProto::GRAPH) {  // If's branches, Loop's and Scan's body
      FLEET_ASSIGN_OR_RETURN(int sub_block, ImportSubgraph(a.g(), name));
      op.attrs[a.name()] = BlockRef{sub_block};
      continue;
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
    return NodeFail(
        absl::StatusCode::kInvalidArgument, original, name,
        absl::StrCat("has ", node.input_size(), " inputs; ", op.type, " takes at most ", pos));
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
    return NodeFail(
        absl::StatusCode::kInvalidArgument, original, name,
        absl::StrCat("has ", node.output_size(), " outputs; ", op.type, " has at most ", pos));
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
  block().ops.push_back(std::move(op));
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
    FLEET_RETURN_IF_ERROR(DeclareInitializer(init));
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

}  // namespace fleet
