#include "ir/onnx/opset_upgrade.h"

#include <cstring>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"

namespace fleet {
namespace {

// Removes attribute `name` from the node and returns it, or nullopt when absent.
std::optional<onnx::AttributeProto> TakeAttr(onnx::NodeProto& node, const std::string& name) {
  auto* attrs = node.mutable_attribute();
  for (int i = 0; i < attrs->size(); ++i) {
    if (attrs->Get(i).name() == name) {
      onnx::AttributeProto a = attrs->Get(i);
      attrs->DeleteSubrange(i, 1);
      return a;
    }
  }
  return std::nullopt;
}

bool HasAttr(const onnx::NodeProto& node, const std::string& name) {
  for (const auto& a : node.attribute()) {
    if (a.name() == name) return true;
  }
  return false;
}

TensorValue Int64Vector(const std::vector<int64_t>& values) {
  TensorValue v;
  v.dtype = DataType::kI64;
  v.shape = {static_cast<int64_t>(values.size())};
  v.bytes.assign(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(int64_t));
  return v;
}

// A scalar holding `value` in `dtype` (the input's element type; f32 when unknown).
absl::StatusOr<TensorValue> Scalar(float value, DataType dtype) {
  TensorValue v;
  v.dtype = dtype == DataType::kUndefined ? DataType::kF32 : dtype;
  auto put = [&](auto x) { v.bytes.assign(reinterpret_cast<const char*>(&x), sizeof(x)); };
  switch (v.dtype) {
    case DataType::kF32: put(value); break;
    case DataType::kF64: put(static_cast<double>(value)); break;
    case DataType::kI64: put(static_cast<int64_t>(value)); break;
    case DataType::kI32: put(static_cast<int32_t>(value)); break;
    default:
      return absl::UnimplementedError(absl::StrCat("a ", DataTypeName(v.dtype),
                                                   " input with pre-opset-11 min/max/value "
                                                   "attributes is unsupported"));
  }
  return v;
}

// Sets input `index` of the node, padding skipped optional inputs with "".
void SetInput(onnx::NodeProto& node, int index, const std::string& name) {
  while (node.input_size() <= index) node.add_input("");
  node.set_input(index, name);
}

std::string Hint(const onnx::NodeProto& node, const std::string& what) {
  std::string base = node.name().empty() ? (node.output_size() ? node.output(0) : node.op_type())
                                         : node.name();
  return absl::StrCat(base, ".", what);
}

// An ints attribute that became input `index`.
void IntsAttrToInput(onnx::NodeProto& node, const std::string& attr, int index,
                     const AddConstantFn& add_constant) {
  auto a = TakeAttr(node, attr);
  if (!a.has_value()) return;
  std::vector<int64_t> values(a->ints().begin(), a->ints().end());
  SetInput(node, index, add_constant(Hint(node, attr), Int64Vector(values)));
}

}  // namespace

absl::Status UpgradeNode(onnx::NodeProto& node, int opset,
                         const std::function<int(const std::string&)>& input_rank,
                         const std::function<DataType(const std::string&)>& input_dtype,
                         const AddConstantFn& add_constant) {
  const std::string& op = node.op_type();
  if (opset < 9 && op == "Scan") {
    return absl::UnimplementedError(
        "Scan before opset 9 (a batch axis and sequence_lens) is unsupported");
  }
  if (opset < 13) {
    if (op == "Squeeze" || op == "Unsqueeze" || op == "ReduceSum") {
      IntsAttrToInput(node, "axes", 1, add_constant);
    } else if (op == "Split") {
      IntsAttrToInput(node, "split", 1, add_constant);
    } else if (op == "Softmax" || op == "LogSoftmax" || op == "Hardmax") {
      // Before opset 13 these flattened the input to 2-D at `axis` (default 1). That equals the
      // opset-13 single-axis form exactly when `axis` is the last dimension.
      auto a = TakeAttr(node, "axis");
      int64_t axis = a.has_value() ? a->i() : 1;
      int rank = node.input_size() > 0 ? input_rank(node.input(0)) : -1;
      if (rank < 0 || (axis < 0 ? axis + rank : axis) != rank - 1) {
        return absl::UnimplementedError(absl::StrCat(
            op, " before opset 13 with axis ", axis, " on a rank-", rank,
            " input is unsupported (only the last axis maps onto opset 13)"));
      }
      onnx::AttributeProto* attr = node.add_attribute();
      attr->set_name("axis");
      attr->set_type(onnx::AttributeProto::INT);
      attr->set_i(-1);
    }
  }
  if (opset < 4 && op == "Concat" && !HasAttr(node, "axis")) {
    onnx::AttributeProto* attr = node.add_attribute();  // axis was optional, default 1
    attr->set_name("axis");
    attr->set_type(onnx::AttributeProto::INT);
    attr->set_i(1);
  }
  if (opset < 12 && op == "Dropout") {
    TakeAttr(node, "ratio");  // inference only: the ratio does not change the output
  }
  if (opset < 11) {
    DataType dtype = node.input_size() > 0 ? input_dtype(node.input(0)) : DataType::kUndefined;
    if (op == "Clip") {
      for (auto [attr, index] : {std::pair{"min", 1}, std::pair{"max", 2}}) {
        auto a = TakeAttr(node, attr);
        if (!a.has_value()) continue;
        auto scalar = Scalar(a->f(), dtype);
        if (!scalar.ok()) return scalar.status();
        SetInput(node, index, add_constant(Hint(node, attr), *std::move(scalar)));
      }
    } else if (op == "Pad") {
      IntsAttrToInput(node, "pads", 1, add_constant);
      auto value = TakeAttr(node, "value");
      if (value.has_value()) {
        auto scalar = Scalar(value->f(), dtype);
        if (!scalar.ok()) return scalar.status();
        SetInput(node, 2, add_constant(Hint(node, "value"), *std::move(scalar)));
      }
    }
  }
  if (opset < 10) {
    if (op == "Slice") {
      IntsAttrToInput(node, "starts", 1, add_constant);
      IntsAttrToInput(node, "ends", 2, add_constant);
      IntsAttrToInput(node, "axes", 3, add_constant);
    } else if (op == "TopK") {
      auto k = TakeAttr(node, "k");
      if (k.has_value()) SetInput(node, 1, add_constant(Hint(node, "k"), Int64Vector({k->i()})));
    }
  }
  return absl::OkStatus();
}

}  // namespace fleet
