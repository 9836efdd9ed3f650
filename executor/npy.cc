#include "executor/npy.h"

#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "executor/data/mapped_file.h"
#include "ir/status_macros.h"

namespace fleet {
namespace {

struct NpyType {
  const char* descr;
  DataType dtype;
};
constexpr NpyType kTypes[] = {
    {"<f4", DataType::kF32}, {"<f8", DataType::kF64}, {"<f2", DataType::kF16},
    {"<i8", DataType::kI64}, {"<i4", DataType::kI32}, {"|i1", DataType::kI8},
    {"|u1", DataType::kU8},  {"|b1", DataType::kBool},
};

// Value of `key` in the header dict, e.g. 'descr': '<f4' -> "'<f4'".
std::string HeaderField(const std::string& header, const std::string& key) {
  size_t k = header.find("'" + key + "'");
  if (k == std::string::npos) return "";
  size_t colon = header.find(':', k);
  if (colon == std::string::npos) return "";
  size_t start = colon + 1;
  while (start < header.size() && header[start] == ' ') ++start;
  size_t end = start;
  if (start < header.size() && header[start] == '(') {
    end = header.find(')', start);
    return end == std::string::npos ? "" : header.substr(start, end - start + 1);
  }
  while (end < header.size() && header[end] != ',' && header[end] != '}') ++end;
  return std::string(absl::StripAsciiWhitespace(header.substr(start, end - start)));
}

}  // namespace

absl::StatusOr<NpyHeader> ParseNpyHeader(const char* data, size_t size,
                                          const std::string& source) {
  const absl::string_view bytes(data, size);
  auto bad = [&](const std::string& why) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": ", why));
  };
  if (bytes.size() < 10 || std::memcmp(bytes.data(), "\x93NUMPY", 6) != 0) {
    return bad("not an .npy file (missing the \\x93NUMPY magic)");
  }
  int major = static_cast<unsigned char>(bytes[6]);
  size_t header_len, header_start;
  if (major == 1) {
    header_len = static_cast<unsigned char>(bytes[8]) |
                 (static_cast<size_t>(static_cast<unsigned char>(bytes[9])) << 8);
    header_start = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12) return bad("truncated .npy header");
    header_len = 0;
    for (int i = 0; i < 4; ++i) {
      header_len |= static_cast<size_t>(static_cast<unsigned char>(bytes[8 + i])) << (8 * i);
    }
    header_start = 12;
  } else {
    return bad(absl::StrCat(".npy format version ", major, " is unsupported"));
  }
  if (header_start + header_len > bytes.size()) return bad("truncated .npy header");
  std::string header(bytes.substr(header_start, header_len));
  std::string descr = HeaderField(header, "descr");
  std::string order = HeaderField(header, "fortran_order");
  std::string shape_text = HeaderField(header, "shape");
  if (descr.size() < 2 || shape_text.empty()) return bad("malformed .npy header");
  descr = descr.substr(1, descr.size() - 2);  // strip quotes
  if (descr == "=f4" || descr == "f4") descr = "<f4";
  if (descr == "<b1" || descr == "=b1") descr = "|b1";
  if (order != "False") return bad("Fortran-ordered arrays are unsupported; save with C order");
  DataType dtype = DataType::kUndefined;
  for (const NpyType& t : kTypes) {
    if (descr == t.descr) dtype = t.dtype;
  }
  if (dtype == DataType::kUndefined) {
    return bad(absl::StrCat("element type '", descr,
                            "' is unsupported (have f32, f64, f16, i64, i32, i8, u8, bool)"));
  }
  std::vector<int64_t> shape;
  std::string inner = shape_text.substr(1, shape_text.size() - 2);
  for (absl::string_view part : absl::StrSplit(inner, ',', absl::SkipWhitespace())) {
    std::string d(absl::StripAsciiWhitespace(part));
    char* end = nullptr;
    long long v = std::strtoll(d.c_str(), &end, 10);
    if (d.empty() || *end != '\0' || v < 0 || v > (int64_t{1} << 40)) {
      return bad(absl::StrCat("malformed shape ", shape_text));
    }
    shape.push_back(v);
  }
  // The tensor's own limit, checked dim by dim as Tensor's constructor does: a zero dim does not
  // excuse huge ones beside it (the product is 0, but no tensor of that shape can be made).
  const int64_t checked_bytes = CheckedNumBytes(dtype, shape);
  if (checked_bytes < 0) {
    return bad(absl::StrCat("shape ", ShapeString(shape), " is too large (a tensor holds at most ",
                            kMaxTensorBytes, " bytes, counting every dim)"));
  }
  size_t payload = static_cast<size_t>(checked_bytes);
  size_t data_start = header_start + header_len;
  if (bytes.size() - data_start < payload) {
    return bad(absl::StrCat("truncated: holds ", bytes.size() - data_start, " data bytes; ",
                            DataTypeName(dtype), ShapeString(shape), " needs ", payload));
  }
  NpyHeader result;
  result.dtype = dtype;
  result.shape = std::move(shape);
  result.data_offset = data_start;
  result.data_bytes = payload;
  return result;
}

absl::StatusOr<Tensor> ParseNpy(const std::string& bytes, const std::string& source) {
  FLEET_ASSIGN_OR_RETURN(NpyHeader header, ParseNpyHeader(bytes.data(), bytes.size(), source));
  Tensor t(header.dtype, header.shape);
  if (header.data_bytes > 0) {
    std::memcpy(t.raw_data(), bytes.data() + header.data_offset, header.data_bytes);
  }
  return t;
}

absl::StatusOr<Tensor> MapNpy(const std::string& path) {
  FLEET_ASSIGN_OR_RETURN(std::shared_ptr<MappedFile> file, MappedFile::Open(path));
  FLEET_ASSIGN_OR_RETURN(NpyHeader header, ParseNpyHeader(file->data(), file->size(), path));
  if (header.data_bytes == 0) return Tensor::Zeros(header.dtype, header.shape);
  if (header.data_offset % DataTypeSize(header.dtype) != 0) {
    // NumPy pads headers so data is aligned; a file that is not gets copied rather than read
    // through misaligned element pointers.
    Tensor t(header.dtype, header.shape);
    std::memcpy(t.raw_data(), file->data() + header.data_offset, header.data_bytes);
    return t;
  }
  auto buffer = Buffer::Wrap(file->mutable_data(), file->size(), [file] {});
  return Tensor(header.dtype, header.shape, std::move(buffer), header.data_offset);
}

absl::StatusOr<Tensor> ReadNpy(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot open file"));
  std::stringstream buffer;
  buffer << in.rdbuf();
  return ParseNpy(buffer.str(), path);
}

absl::Status WriteNpy(const std::string& path, const Tensor& tensor) {
  const char* descr = nullptr;
  for (const NpyType& t : kTypes) {
    if (t.dtype == tensor.dtype()) descr = t.descr;
  }
  if (descr == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": cannot write ", tensor.TypeString()));
  }
  std::string shape = absl::StrJoin(tensor.shape(), ", ");
  if (tensor.rank() == 1) shape += ",";
  std::string header = absl::StrCat("{'descr': '", descr, "', 'fortran_order': False, 'shape': (",
                                    shape, "), }");
  // Pad with spaces so the data starts 64-byte aligned; the header ends with '\n'.
  size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header.push_back('\n');
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) return absl::PermissionDeniedError(absl::StrCat(path, ": cannot write file"));
    out.write("\x93NUMPY\x01\x00", 8);
    char len[2] = {static_cast<char>(header.size() & 0xff),
                   static_cast<char>((header.size() >> 8) & 0xff)};
    out.write(len, 2);
    out.write(header.data(), static_cast<std::streamsize>(header.size()));
    out.write(static_cast<const char*>(tensor.raw_data()),
              static_cast<std::streamsize>(tensor.nbytes()));
    if (!out) return absl::DataLossError(absl::StrCat(path, ": write failed"));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    return absl::DataLossError(absl::StrCat(path, ": cannot rename the temporary file"));
  }
  return absl::OkStatus();
}

}  // namespace fleet
