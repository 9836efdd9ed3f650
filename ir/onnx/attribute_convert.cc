#include "ir/onnx/attribute_convert.h"

#include <cstring>
#include <filesystem>
#include <fstream>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace fleet {

std::optional<AttrType> AttrTypeFromOnnx(onnx::AttributeProto::AttributeType type) {
  switch (type) {
    case onnx::AttributeProto::INT: return AttrType::kInt;
    case onnx::AttributeProto::FLOAT: return AttrType::kFloat;
    case onnx::AttributeProto::STRING: return AttrType::kString;
    case onnx::AttributeProto::INTS: return AttrType::kInts;
    case onnx::AttributeProto::FLOATS: return AttrType::kFloats;
    case onnx::AttributeProto::STRINGS: return AttrType::kStrings;
    case onnx::AttributeProto::TENSOR: return AttrType::kTensor;
    // A graph becomes a sub-block; only the importer can make one (it owns the program).
    case onnx::AttributeProto::GRAPH: return AttrType::kBlock;
    default: return std::nullopt;
  }
}

absl::StatusOr<AttrValue> AttrValueFromOnnx(const onnx::AttributeProto& attr) {
  switch (attr.type()) {
    case onnx::AttributeProto::INT: return AttrValue(static_cast<int64_t>(attr.i()));
    case onnx::AttributeProto::FLOAT: return AttrValue(attr.f());
    case onnx::AttributeProto::STRING: return AttrValue(attr.s());
    case onnx::AttributeProto::INTS:
      return AttrValue(std::vector<int64_t>(attr.ints().begin(), attr.ints().end()));
    case onnx::AttributeProto::FLOATS:
      return AttrValue(std::vector<float>(attr.floats().begin(), attr.floats().end()));
    case onnx::AttributeProto::STRINGS:
      return AttrValue(std::vector<std::string>(attr.strings().begin(), attr.strings().end()));
    case onnx::AttributeProto::TENSOR: {
      auto value = TensorValueFromOnnx(attr.t(), "");
      if (!value.ok()) return value.status();
      return AttrValue(*std::move(value));
    }
    default:
      return absl::UnimplementedError(absl::StrCat(
          "attribute '", attr.name(), "' has type ",
          onnx::AttributeProto::AttributeType_Name(attr.type()), ", which is unsupported"));
  }
}

namespace {

// Copies `count` elements from a typed repeated field, converting to the element type T.
template <typename T, typename Field>
void CopyField(const Field& field, std::string* out) {
  out->resize(field.size() * sizeof(T));
  T* dst = reinterpret_cast<T*>(out->data());
  for (int i = 0; i < field.size(); ++i) dst[i] = static_cast<T>(field.Get(i));
}

absl::StatusOr<std::string> ReadExternalData(const onnx::TensorProto& tensor,
                                             const std::string& base_dir) {
  auto bad = [&](const std::string& what) {
    return absl::InvalidArgumentError(absl::StrCat("tensor '", tensor.name(), "': ", what));
  };
  std::string location;
  int64_t offset = 0;
  int64_t length = -1;
  for (const auto& kv : tensor.external_data()) {
    if (kv.key() == "location") {
      location = kv.value();
    } else if ((kv.key() == "offset" || kv.key() == "length") &&
               !absl::SimpleAtoi(kv.value(), kv.key() == "offset" ? &offset : &length)) {
      return bad(absl::StrCat("external data ", kv.key(), " '", absl::CHexEscape(kv.value()),
                              "' is not an integer"));
    }
  }
  namespace fs = std::filesystem;
  if (location.empty()) return bad("external data has no location");
  // A NUL ends the name the operating system sees: "w.bin\0junk" would open "w.bin", or "."
  // the model's folder itself.
  if (location.find('\0') != std::string::npos) {
    return bad(
        absl::StrCat("external data location '", absl::CHexEscape(location), "' holds a NUL byte"));
  }
  if (base_dir.empty()) return bad("external data is not allowed here (no model folder)");
  std::error_code ec;
  fs::path base = fs::weakly_canonical(fs::path(base_dir), ec);
  fs::path file = fs::weakly_canonical(base / location, ec);
  auto [base_end, unused] = std::mismatch(base.begin(), base.end(), file.begin(), file.end());
  if (fs::path(location).is_absolute() || base_end != base.end()) {
    return bad(absl::StrCat("external data file '", location, "' is outside the model's folder"));
  }
  // Only a regular file has a size to check offset and length against (a folder, ".", opens
  // as a stream whose size is garbage).
  if (!fs::is_regular_file(file, ec)) {
    return bad(absl::StrCat("cannot open external data file '", file.string(),
                            "' (missing, or not a regular file)"));
  }
  const int64_t size = static_cast<int64_t>(fs::file_size(file, ec));
  std::ifstream in(file, std::ios::binary);
  if (ec || !in) return bad(absl::StrCat("cannot open external data file '", file.string(), "'"));
  if (offset < 0 || offset > size) {
    return bad(absl::StrCat("external data offset ", offset, " is beyond the end of '", location,
                            "' (", size, " bytes)"));
  }
  if (length < 0) length = size - offset;
  if (length > size - offset) {  // not offset + length > size, which can overflow
    return bad(absl::StrCat("external data of ", length, " bytes at offset ", offset,
                            " is beyond the end of '", location, "' (", size, " bytes)"));
  }
  std::string bytes(static_cast<size_t>(length), '\0');
  in.seekg(offset);
  in.read(bytes.data(), length);
  if (!in) return bad(absl::StrCat("reading external data file '", location, "' failed"));
  return bytes;
}

}  // namespace

namespace {

// Converts `tensor`; when `raw` is given, its bytes are moved into the value (they are the
// tensor's raw_data, which the caller lets go).
absl::StatusOr<TensorValue> ConvertTensor(const onnx::TensorProto& tensor,
                                          const std::string& base_dir, std::string* raw) {
  auto dtype = DataTypeFromOnnx(tensor.data_type());
  if (!dtype.has_value()) {
    return absl::UnimplementedError(
        absl::StrCat("tensor '", tensor.name(), "' has element type ",
                     onnx::TensorProto::DataType_Name(
                         static_cast<onnx::TensorProto::DataType>(tensor.data_type())),
                     ", which is unsupported"));
  }
  TensorValue v;
  v.dtype = *dtype;
  int64_t count = 1;
  for (int64_t d : tensor.dims()) {
    if (d < 0 || (d > 0 && count > (int64_t{1} << 40) / d)) {
      return absl::InvalidArgumentError(absl::StrCat("tensor '", tensor.name(),
                                                     "' has an invalid dimension ", d));
    }
    v.shape.push_back(d);
    count *= d;
  }
  if (tensor.data_location() == onnx::TensorProto::EXTERNAL) {
    auto bytes = ReadExternalData(tensor, base_dir);
    if (!bytes.ok()) return bytes.status();
    v.bytes = *std::move(bytes);
  } else if (tensor.has_raw_data()) {
    if (raw != nullptr) {
      v.bytes.swap(*raw);
    } else {
      v.bytes = tensor.raw_data();
    }
  } else {
    switch (v.dtype) {
      case DataType::kF32: CopyField<float>(tensor.float_data(), &v.bytes); break;
      case DataType::kF64: CopyField<double>(tensor.double_data(), &v.bytes); break;
      case DataType::kI64: CopyField<int64_t>(tensor.int64_data(), &v.bytes); break;
      case DataType::kI32: CopyField<int32_t>(tensor.int32_data(), &v.bytes); break;
      case DataType::kI8: CopyField<int8_t>(tensor.int32_data(), &v.bytes); break;
      case DataType::kU8: CopyField<uint8_t>(tensor.int32_data(), &v.bytes); break;
      case DataType::kBool: CopyField<uint8_t>(tensor.int32_data(), &v.bytes); break;
      case DataType::kF16: CopyField<uint16_t>(tensor.int32_data(), &v.bytes); break;
      case DataType::kBF16: CopyField<uint16_t>(tensor.int32_data(), &v.bytes); break;
      case DataType::kUndefined: break;
    }
  }
  size_t expected = static_cast<size_t>(count) * DataTypeSize(v.dtype);
  if (v.bytes.size() != expected) {
    return absl::InvalidArgumentError(absl::StrCat(
        "tensor '", tensor.name(), "' holds ", v.bytes.size(), " bytes; expected ", expected,
        " for ", DataTypeName(v.dtype), "[", count, " elements]"));
  }
  return v;
}

}  // namespace

absl::StatusOr<TensorValue> TensorValueFromOnnx(const onnx::TensorProto& tensor,
                                                const std::string& base_dir) {
  return ConvertTensor(tensor, base_dir, nullptr);
}

absl::StatusOr<TensorValue> TakeTensorValueFromOnnx(onnx::TensorProto& tensor,
                                                    const std::string& base_dir) {
  // mutable_raw_data() would mark raw_data present: ask only when it is.
  return ConvertTensor(tensor, base_dir, tensor.has_raw_data() ? tensor.mutable_raw_data() : nullptr);
}

onnx::TensorProto TensorValueToOnnx(const TensorValue& value, const std::string& name) {
  onnx::TensorProto t;
  t.set_name(name);
  t.set_data_type(DataTypeToOnnx(value.dtype));
  for (int64_t d : value.shape) t.add_dims(d);
  t.set_raw_data(value.bytes);
  return t;
}

}  // namespace fleet
