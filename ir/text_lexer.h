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

// Produces the tokens of a text one at a time, so memory stays proportional to what the parser
// keeps. After the end of input or an error, Next() keeps returning kEnd; status() says which.
class Lexer {
 public:
  // `text` must outlive the lexer.
  Lexer(std::string_view text, std::string_view filename);

  Token Next();
  // OK, or INVALID_ARGUMENT "FILE:LINE:COL: error: ..." for the first bad token.
  const absl::Status& status() const { return status_; }

 private:
  absl::StatusOr<Token> Lex();
  void Advance();
  void SkipSpaceAndComments();
  absl::Status LexString(const Token& tok, std::string* out);
  absl::Status LexNumber(Token& tok);
  absl::Status Error(const Token& at, const std::string& what) const;

  std::string_view text_;
  std::string file_;
  size_t pos_ = 0;
  int line_ = 1;
  int col_ = 1;
  Token end_;
  absl::Status status_;
};

// How a token reads in an error message: 'foo', '%x', '"str"', or end of file.
std::string DescribeToken(const Token& token);

}  // namespace text
}  // namespace fleet
