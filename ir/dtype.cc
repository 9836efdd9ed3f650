#include "ir/dtype.h"

namespace fleet {

size_t DataTypeSize(DataType dtype) {
  switch (dtype) {
    case DataType::kF32: return 4;
    case DataType::kF64: return 8;
    case DataType::kF16: return 2;
    case DataType::kBF16: return 2;
    case DataType::kI64: return 8;
    case DataType::kI32: return 4;
    case DataType::kI8: return 1;
    case DataType::kU8: return 1;
    case DataType::kBool: return 1;
    case DataType::kUndefined: return 0;
  }
  return 0;
}

const char* DataTypeName(DataType dtype) {
  switch (dtype) {
    case DataType::kF32: return "f32";
    case DataType::kF64: return "f64";
    case DataType::kF16: return "f16";
    case DataType::kBF16: return "bf16";
    case DataType::kI64: return "i64";
    case DataType::kI32: return "i32";
    case DataType::kI8: return "i8";
    case DataType::kU8: return "u8";
    case DataType::kBool: return "bool";
    case DataType::kUndefined: return "undef";
  }
  return "undef";
}

std::optional<DataType> DataTypeFromName(std::string_view name) {
  for (DataType t : {DataType::kF32, DataType::kF64, DataType::kF16, DataType::kI64,
                     DataType::kI32, DataType::kI8, DataType::kU8, DataType::kBool,
                     DataType::kBF16, DataType::kUndefined}) {
    if (DataTypeName(t) == name) return t;
  }
  return std::nullopt;
}

// Values of onnx.TensorProto.DataType, spelled out so this file needs no ONNX header.
std::optional<DataType> DataTypeFromOnnx(int onnx_type) {
  switch (onnx_type) {
    case 1: return DataType::kF32;
    case 2: return DataType::kU8;
    case 3: return DataType::kI8;
    case 6: return DataType::kI32;
    case 7: return DataType::kI64;
    case 9: return DataType::kBool;
    case 10: return DataType::kF16;
    case 11: return DataType::kF64;
    case 16: return DataType::kBF16;
    default: return std::nullopt;
  }
}

int DataTypeToOnnx(DataType dtype) {
  switch (dtype) {
    case DataType::kF32: return 1;
    case DataType::kU8: return 2;
    case DataType::kI8: return 3;
    case DataType::kI32: return 6;
    case DataType::kI64: return 7;
    case DataType::kBool: return 9;
    case DataType::kF16: return 10;
    case DataType::kF64: return 11;
    case DataType::kBF16: return 16;
    case DataType::kUndefined: return 0;
  }
  return 0;
}

bool IsFloatingPoint(DataType dtype) {
  return dtype == DataType::kF32 || dtype == DataType::kF64 || dtype == DataType::kF16 ||
         dtype == DataType::kBF16;
}

}  // namespace fleet
