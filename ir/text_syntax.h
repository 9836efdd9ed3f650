// Pieces of the program text form (ir/text_format.h) shared by its printer and parser: the
// spelling of names, strings, numbers, roles and var flags, and f16 <-> f32 conversion.
// Internal to ir/.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace fleet {
namespace text {

// A var name prints bare after '%' when it is non-empty and made only of these characters.
bool IsBareVarNameChar(char c);
// Idents: [A-Za-z_][A-Za-z0-9_.]* (op types, slot and attribute names, keywords).
bool IsIdentStart(char c);
bool IsIdentChar(char c);
bool IsIdent(std::string_view s);

// `s` in double quotes: '"' and '\' escaped, \n \t \r, other control bytes and bytes that are
// not part of valid UTF-8 as \xHH. Valid UTF-8 sequences are kept as they are.
std::string Quote(std::string_view s);
// `%name` or `%"quoted name"`.
std::string VarRef(std::string_view name);
// An ident when `s` is one and not in the reserved words below; otherwise Quote(s).
std::string IdentOrQuote(std::string_view s);
// Words that cannot be printed bare as an op type because the parser reads them as part of the
// statement before ("var", "loc", the var flags, ...).
bool IsReservedOpType(std::string_view s);

bool IsValidUtf8(std::string_view s);

// Shortest text that reads back to the same value, always recognisable as a float: it contains
// '.', 'e', or is inf, -inf or nan ("1.0", "1e-05", "-0.0").
std::string FormatFloat(float value);
std::string FormatDouble(double value);

// IEEE half bits <-> float. HalfToFloat is exact; FloatToHalf rounds to nearest even.
float HalfToFloat(uint16_t bits);
uint16_t FloatToHalf(float value);

// Op roles: names joined by '|' ("forward|loss"), "" for kRoleNone (not printed); unknown bits
// as a decimal number, which the parser rejects.
std::string FormatRole(uint32_t role);
// The bit for one role name ("backward" -> kRoleBackward); nullopt for an unknown name.
std::optional<uint32_t> RoleBit(std::string_view name);

// Var flags in printing order, with their names.
struct FlagName {
  uint32_t bit;
  const char* name;
};
inline constexpr FlagName kVarFlagNames[] = {
    {1u << 0, "persistable"}, {1u << 1, "parameter"}, {1u << 2, "trainable"},
    {1u << 3, "feed"},        {1u << 4, "fetch"},
};

}  // namespace text
}  // namespace fleet
