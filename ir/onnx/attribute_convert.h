// Conversions between ONNX protobuf values (AttributeProto, TensorProto) and Fleet's IR values.
#pragma once

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "ir/attribute.h"
#include "onnx/onnx_pb.h"

namespace fleet {

// nullopt for attribute types Fleet has no form for (sparse tensors, type protos). A GRAPH is a
// kBlock: the importer turns it into a sub-block (AttrValueFromOnnx cannot, it has no program).
std::optional<AttrType> AttrTypeFromOnnx(onnx::AttributeProto::AttributeType type);

// UNIMPLEMENTED for unsupported attribute types; INVALID_ARGUMENT for malformed ones.
absl::StatusOr<AttrValue> AttrValueFromOnnx(const onnx::AttributeProto& attr);

// Reads a TensorProto's elements (raw_data, typed fields or external data). External data must
// name a file inside `base_dir` (the model's folder). UNIMPLEMENTED for dtypes Fleet lacks.
absl::StatusOr<TensorValue> TensorValueFromOnnx(const onnx::TensorProto& tensor,
                                                const std::string& base_dir);

// As above, but moves the raw bytes out of `tensor` instead of copying them (for large
// initializers of a model that is being consumed).
absl::StatusOr<TensorValue> TakeTensorValueFromOnnx(onnx::TensorProto& tensor,
                                                    const std::string& base_dir);

// Writes a TensorValue as a TensorProto with raw_data.
onnx::TensorProto TensorValueToOnnx(const TensorValue& value, const std::string& name);

}  // namespace fleet
