// Spelling helpers for the program text form; see text_syntax.h.
#include "ir/text_syntax.h"

#include <charconv>
#include <cmath>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "ir/program.h"

namespace fleet {
namespace text {
namespace {

// Length of the valid UTF-8 sequence starting at s[i] (multi-byte only), or 0 when the bytes
// there are not one (overlong forms, surrogates and code points past U+10FFFF included).
size_t Utf8SequenceLength(std::string_view s, size_t i) {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char b = byte(i);
  size_t len;
  uint32_t cp;
  if (b >= 0xC2 && b <= 0xDF) {
    len = 2;
    cp = b & 0x1F;
  } else if (b >= 0xE0 && b <= 0xEF) {
    len = 3;
    cp = b & 0x0F;
  } else if (b >= 0xF0 && b <= 0xF4) {
    len = 4;
    cp = b & 0x07;
  } else {
    return 0;
  }
  if (i + len > s.size()) return 0;
  for (size_t k = 1; k < len; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (byte(i + k) & 0x3F);
  }
  if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10FFFF ||
      (cp >= 0xD800 && cp <= 0xDFFF)) {
    return 0;
  }
  return len;
}

constexpr const char* kHex = "0123456789abcdef";

}  // namespace

bool IsBareVarNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '.' || c == '-';
}
bool IsIdentStart(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool IsIdentChar(char c) { return IsIdentStart(c) || (c >= '0' && c <= '9') || c == '.'; }

bool IsIdent(std::string_view s) {
  if (s.empty() || !IsIdentStart(s[0])) return false;
  for (char c : s) {
    if (!IsIdentChar(c)) return false;
  }
  return true;
}

bool IsValidUtf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    if (static_cast<unsigned char>(s[i]) < 0x80) {
      ++i;
      continue;
    }
    size_t len = Utf8SequenceLength(s, i);
    if (len == 0) return false;
    i += len;
  }
  return true;
}

std::string Quote(std::string_view s) {
  std::string out = "\"";
  for (size_t i = 0; i < s.size();) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      size_t len = Utf8SequenceLength(s, i);
      if (len > 0) {
        out.append(s.data() + i, len);
        i += len;
        continue;
      }
    }
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        if (c < 0x20 || c >= 0x7F) {
          out += "\\x";
          out += kHex[c >> 4];
          out += kHex[c & 15];
        } else {
          out += static_cast<char>(c);
        }
    }
    ++i;
  }
  out += '"';
  return out;
}

std::string VarRef(std::string_view name) {
  bool bare = !name.empty();
  for (char c : name) bare = bare && IsBareVarNameChar(c);
  return bare ? absl::StrCat("%", std::string(name)) : absl::StrCat("%", Quote(name));
}

bool IsReservedOpType(std::string_view s) {
  if (s == "var" || s == "loc" || s == "block" || s == "value" || s == "none" || s == "init" ||
      s == "sparse_rows") {
    return true;
  }
  for (const FlagName& f : kVarFlagNames) {
    if (s == f.name) return true;
  }
  return false;
}

std::string IdentOrQuote(std::string_view s) {
  if (IsIdent(s) && !IsReservedOpType(s)) return std::string(s);
  return Quote(s);
}

template <typename T>
static std::string FormatReal(T value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value < 0 ? "-inf" : "inf";
  char buf[64];
  auto result = std::to_chars(buf, buf + sizeof(buf), value);
  std::string s(buf, result.ptr);
  if (s.find_first_of(".e") == std::string::npos) s += ".0";
  return s;
}

std::string FormatFloat(float value) { return FormatReal(value); }
std::string FormatDouble(double value) { return FormatReal(value); }

float HalfToFloat(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
  const uint32_t exp = (h >> 10) & 0x1F;
  const uint32_t mant = h & 0x3FF;
  if (exp == 0) {
    float magnitude = std::ldexp(static_cast<float>(mant), -24);
    return sign ? -magnitude : magnitude;
  }
  uint32_t bits =
      exp == 31 ? (sign | 0x7F800000u | (mant << 13)) : (sign | ((exp + 112) << 23) | (mant << 13));
  float f;
  std::memcpy(&f, &bits, sizeof(f));
  return f;
}

uint16_t FloatToHalf(float value) {
  uint32_t x;
  std::memcpy(&x, &value, sizeof(x));
  const uint32_t sign = (x >> 16) & 0x8000;
  uint32_t abs = x & 0x7FFFFFFFu;
  if (abs >= 0x7F800000u) {  // inf or nan (nan stays nan: keep a mantissa bit set)
    return static_cast<uint16_t>(sign | 0x7C00 | (abs > 0x7F800000u ? 0x200 : 0));
  }
  if (abs >= 0x477FF000u) return static_cast<uint16_t>(sign | 0x7C00);  // >= 65520: inf
  if (abs < 0x38800000u) {  // below the smallest normal half: a multiple of 2^-24
    float magnitude;
    std::memcpy(&magnitude, &abs, sizeof(magnitude));
    auto units = static_cast<uint32_t>(std::nearbyint(magnitude * 16777216.0f));
    return static_cast<uint16_t>(sign | units);
  }
  abs += 0xFFF + ((abs >> 13) & 1);  // round to nearest, ties to even
  abs -= 112u << 23;                 // rebias the exponent from 127 to 15
  return static_cast<uint16_t>(sign | (abs >> 13));
}

namespace {
struct RoleName {
  uint32_t bit;
  const char* name;
};
constexpr RoleName kRoleNames[] = {
    {kRoleForward, "forward"},
    {kRoleBackward, "backward"},
    {kRoleOptimize, "optimize"},
    {kRoleRpc, "rpc"},
    {kRoleDist, "dist"},
    {kRoleLRSchedule, "lr_sched"},
    {kRoleCollective, "collective"},
    {kRoleLoss, "loss"},
};

constexpr uint32_t NamedRoleBits() {
  uint32_t bits = 0;
  for (const RoleName& r : kRoleNames) bits |= r.bit;
  return bits;
}
static_assert(NamedRoleBits() == kKnownRoles, "every role needs a name in the text form");
}  // namespace

std::string FormatRole(uint32_t role) {
  std::string out;
  for (const RoleName& r : kRoleNames) {
    if (role & r.bit) absl::StrAppend(&out, out.empty() ? "" : "|", r.name);
  }
  uint32_t unknown = role & ~kKnownRoles;
  if (unknown != 0) absl::StrAppend(&out, out.empty() ? "" : "|", unknown);
  return out;
}

std::optional<uint32_t> RoleBit(std::string_view name) {
  for (const RoleName& r : kRoleNames) {
    if (name == r.name) return r.bit;
  }
  return std::nullopt;
}

}  // namespace text
}  // namespace fleet
