// Element types shared by the IR and the executor.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace fleet {

enum class DataType : int8_t {
  kUndefined = 0,
  kF32,
  kF64,
  kF16,
  kI64,
  kI32,
  kI8,
  kU8,
  kBool,
  kBF16,  // bfloat16: f32's 8 exponent bits and 7 mantissa bits
};

// Size in bytes of one element; 0 for kUndefined.
size_t DataTypeSize(DataType dtype);

// Short name used in text form and messages: "f32", "i64", "bool", ...
const char* DataTypeName(DataType dtype);

// Inverse of DataTypeName; nullopt for an unknown name.
std::optional<DataType> DataTypeFromName(std::string_view name);

// ONNX TensorProto.DataType <-> DataType; nullopt when Fleet has no such type.
std::optional<DataType> DataTypeFromOnnx(int onnx_type);
int DataTypeToOnnx(DataType dtype);

bool IsFloatingPoint(DataType dtype);

}  // namespace fleet
