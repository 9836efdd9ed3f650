// Attribute values of the program text form: numbers, strings, typed lists, dense tensors and
// block references (see text_format.h).
#include <charconv>
#include <cstring>
#include <limits>

#include "absl/strings/str_cat.h"
#include "ir/bfloat16.h"
#include "ir/status_macros.h"
#include "ir/tensor_checks.h"
#include "ir/text_parser.h"
#include "ir/text_syntax.h"

namespace fleet {
namespace text {
namespace {

// Appends the bytes of `v` (little-endian hosts only, like the rest of Fleet).
template <typename T>
void Store(T v, std::string* bytes) {
  char buf[sizeof(T)];
  std::memcpy(buf, &v, sizeof(T));
  bytes->append(buf, sizeof(T));
}

}  // namespace

absl::Status TextParser::ParseAttrs(Op& op) {
  Next();  // '{'
  if (TryPunct('}')) return absl::OkStatus();
  do {
    const Token at = Peek();
    FLEET_ASSIGN_OR_RETURN(std::string name, ParseName("as attribute name"));
    FLEET_RETURN_IF_ERROR(ExpectPunct('=', "after the attribute name"));
    FLEET_ASSIGN_OR_RETURN(AttrValue value, ParseAttrValue());
    if (!op.attrs.emplace(name, std::move(value)).second) {
      return Error(at, absl::StrCat("attribute '", name, "' is given twice"));
    }
  } while (TryPunct(','));
  return ExpectPunct('}', "after the attributes");
}

absl::StatusOr<AttrValue> TextParser::ParseAttrValue() {
  const Token t = Peek();
  switch (t.kind) {
    case TokenKind::kNumber:
      if (t.is_float) {
        FLEET_ASSIGN_OR_RETURN(float f, ParseFloat(""));
        return AttrValue(f);
      } else {
        FLEET_ASSIGN_OR_RETURN(int64_t i, ParseInt(""));
        return AttrValue(i);
      }
    case TokenKind::kString:
      return AttrValue(Next().text);
    case TokenKind::kIdent:
      if (t.text == "inf" || t.text == "nan") {
        FLEET_ASSIGN_OR_RETURN(float f, ParseFloat(""));
        return AttrValue(f);
      }
      if ((t.text == "ints" || t.text == "floats" || t.text == "strings") && Peek(1).IsPunct('[')) {
        Next();
        return ParseList(t, t.text);
      }
      if (t.text == "dense" && Peek(1).IsPunct('<')) {
        FLEET_ASSIGN_OR_RETURN(TensorValue v, ParseDense());
        return AttrValue(std::move(v));
      }
      break;
    case TokenKind::kPunct:
      if (t.IsPunct('[')) return ParseList(t, "");
      if (t.IsPunct('^')) {
        Next();
        FLEET_ASSIGN_OR_RETURN(int64_t index, ParseInt("after '^'"));
        if (index < 0 || index > std::numeric_limits<int>::max()) {
          return Error(t, absl::StrCat("block reference ^", index, " is out of range"));
        }
        block_refs_.push_back({static_cast<int>(index), t});
        return AttrValue(BlockRef{static_cast<int>(index)});
      }
      break;
    default:
      break;
  }
  return Expected("an attribute value (1, 1.0, \"s\", [...], ints[], dense<...>[...], ^1)", "");
}

// `[...]` typed by its elements, or `ints[...]` / `floats[...]` / `strings[...]` with `type`.
absl::StatusOr<AttrValue> TextParser::ParseList(const Token& start, std::string_view type) {
  FLEET_RETURN_IF_ERROR(ExpectPunct('[', "to open a list"));
  if (Peek().IsPunct(']')) {
    Next();
    if (type == "ints") return AttrValue(std::vector<int64_t>{});
    if (type == "floats") return AttrValue(std::vector<float>{});
    if (type == "strings") return AttrValue(std::vector<std::string>{});
    return Error(start, "an empty list needs its type: write ints[], floats[] or strings[]");
  }
  if (type.empty()) {
    const Token first = Peek();
    if (first.kind == TokenKind::kString) {
      type = "strings";
    } else if (first.kind == TokenKind::kNumber && !first.is_float) {
      type = "ints";
    } else {
      type = "floats";
    }
  }
  std::vector<int64_t> ints;
  std::vector<float> floats;
  std::vector<std::string> strings;
  do {
    if (type == "ints") {
      FLEET_ASSIGN_OR_RETURN(int64_t v, ParseInt("in an ints list"));
      ints.push_back(v);
    } else if (type == "floats") {
      FLEET_ASSIGN_OR_RETURN(float v, ParseFloat("in a floats list"));
      floats.push_back(v);
    } else {
      FLEET_ASSIGN_OR_RETURN(std::string v, ParseString("in a strings list", false));
      strings.push_back(std::move(v));
    }
  } while (TryPunct(','));
  FLEET_RETURN_IF_ERROR(ExpectPunct(']', "after list elements"));
  if (type == "ints") return AttrValue(std::move(ints));
  if (type == "floats") return AttrValue(std::move(floats));
  return AttrValue(std::move(strings));
}

// dense<DTYPE[DIMS]>[elements]
absl::StatusOr<TensorValue> TextParser::ParseDense() {
  Next();  // 'dense'
  Next();  // '<'
  FLEET_ASSIGN_OR_RETURN(TensorValue t, ParseValueType());
  FLEET_RETURN_IF_ERROR(ExpectPunct('>', "after the tensor type"));
  const int64_t expected = *CheckedNumElements(t.shape);  // ParseValueType checked it
  const Token open = Peek();
  FLEET_RETURN_IF_ERROR(ExpectPunct('[', "to open the tensor elements"));
  int64_t count = 0;
  if (!TryPunct(']')) {
    do {
      if (count == expected) {
        return Error(Peek(), absl::StrCat("too many elements: the tensor type holds ", expected));
      }
      const Token at = Peek();
      switch (t.dtype) {
        case DataType::kF32: {
          FLEET_ASSIGN_OR_RETURN(float v, ParseFloat("as an f32 element"));
          Store(v, &t.bytes);
          break;
        }
        case DataType::kF16: {
          FLEET_ASSIGN_OR_RETURN(float v, ParseFloat("as an f16 element"));
          Store(FloatToHalf(v), &t.bytes);
          break;
        }
        case DataType::kBF16: {
          FLEET_ASSIGN_OR_RETURN(float v, ParseFloat("as a bf16 element"));
          Store(FloatToBFloat16(v), &t.bytes);
          break;
        }
        case DataType::kF64: {
          if (at.kind != TokenKind::kNumber && !at.IsIdent("inf") && !at.IsIdent("nan")) {
            return Expected("a number", "as an f64 element");
          }
          double v = 0;
          if (at.text == "inf" || at.text == "-inf" || at.text == "nan") {
            v = at.text == "nan"
                    ? std::numeric_limits<double>::quiet_NaN()
                    : (at.text == "inf" ? 1 : -1) * std::numeric_limits<double>::infinity();
          } else {
            auto [ptr, ec] = std::from_chars(at.text.data(), at.text.data() + at.text.size(), v);
            if (ec != std::errc() || ptr != at.text.data() + at.text.size()) {
              return Error(at, absl::StrCat("number '", at.text, "' is out of range for f64"));
            }
          }
          Next();
          Store(v, &t.bytes);
          break;
        }
        case DataType::kBool:
          if (at.IsIdent("true") || at.IsIdent("false")) {
            Next();
            Store(static_cast<uint8_t>(at.text == "true"), &t.bytes);
            break;
          }
          return Expected("'true' or 'false'", "as a bool element");
        default: {
          FLEET_ASSIGN_OR_RETURN(
              int64_t v, ParseInt(absl::StrCat("as an ", DataTypeName(t.dtype), " element")));
          int64_t lo = std::numeric_limits<int64_t>::min(),
                  hi = std::numeric_limits<int64_t>::max();
          if (t.dtype == DataType::kI32) {
            lo = std::numeric_limits<int32_t>::min();
            hi = std::numeric_limits<int32_t>::max();
          } else if (t.dtype == DataType::kI8) {
            lo = -128;
            hi = 127;
          } else if (t.dtype == DataType::kU8) {
            lo = 0;
            hi = 255;
          }
          if (v < lo || v > hi) {
            return Error(at, absl::StrCat(v, " is out of range for ", DataTypeName(t.dtype)));
          }
          if (t.dtype == DataType::kI64) Store(v, &t.bytes);
          if (t.dtype == DataType::kI32) Store(static_cast<int32_t>(v), &t.bytes);
          if (t.dtype == DataType::kI8) Store(static_cast<int8_t>(v), &t.bytes);
          if (t.dtype == DataType::kU8) Store(static_cast<uint8_t>(v), &t.bytes);
          break;
        }
      }
      ++count;
    } while (TryPunct(','));
    FLEET_RETURN_IF_ERROR(ExpectPunct(']', "after the tensor elements"));
  }
  if (count != expected) {
    return Error(open, absl::StrCat("tensor ", DataTypeName(t.dtype), " has ", count,
                                    " elements; its shape needs ", expected));
  }
  return t;
}

}  // namespace text
}  // namespace fleet
