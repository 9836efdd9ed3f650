// Tokenizer for the program text form (ir/text_format.h). Internal to ir/.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace fleet {
namespace text {

enum class TokenKind {
  kEnd,     // end of input (always the last token)
  kIdent,   // [A-Za-z_][A-Za-z0-9_.]*
  kVar,     // %name or %"name"; text is the decoded name
  kString,  // "..."; text is the decoded bytes
  kNumber,  // -?digits[.digits][e[+-]digits] or -inf; text is the spelling
  kPunct,   // one of ( ) { } [ ] < > , : = | ? ^
};

struct Token {
  TokenKind kind = TokenKind::kEnd;
  std::string text;
  int line = 1;           // 1-based
  int col = 1;            // 1-based, in bytes
  bool is_float = false;  // kNumber spelled with '.', an exponent, or -inf

  bool Is(TokenKind k, std::string_view t) const { return kind == k && text == t; }
  bool IsPunct(char c) const {
    return kind == TokenKind::kPunct && text.size() == 1 && text[0] == c;
  }
  bool IsIdent(std::string_view t) const { return Is(TokenKind::kIdent, t); }
};

// The tokens of `text`, ending with kEnd; or INVALID_ARGUMENT "FILE:LINE:COL: error: ...".
absl::StatusOr<std::vector<Token>> Tokenize(std::string_view text, std::string_view filename);

// How a token reads in an error message: 'foo', '%x', '"str"', or end of file.
std::string DescribeToken(const Token& token);

}  // namespace text
}  // namespace fleet
