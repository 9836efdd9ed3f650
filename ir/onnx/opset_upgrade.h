// Rewrites ONNX nodes written for an older opset into the opset-17 form the IR uses.
#pragma once

#include <functional>
#include <string>

#include "absl/status/status.h"
#include "ir/attribute.h"
#include "onnx/onnx_pb.h"

namespace fleet {

// Adds a constant the node can take as an input; returns the new var's name.
using AddConstantFn = std::function<std::string(const std::string& hint, TensorValue value)>;

// Upgrades `node` in place from `opset` to kOnnxOpset. `input_rank` gives an input's rank or -1
// when unknown, `input_dtype` its element type (kUndefined when unknown). Returns UNIMPLEMENTED
// when the old semantics have no opset-17 equivalent.
absl::Status UpgradeNode(onnx::NodeProto& node, int opset,
                         const std::function<int(const std::string&)>& input_rank,
                         const std::function<DataType(const std::string&)>& input_dtype,
                         const AddConstantFn& add_constant);

}  // namespace fleet
