// Tokenizer for the program text form.
#include "ir/text_lexer.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "ir/status_macros.h"
#include "ir/text_syntax.h"

namespace fleet {
namespace text {
namespace {

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// A byte for an error message: printable ASCII as itself, anything else as \xHH.
std::string ShowChar(char c) {
  auto u = static_cast<unsigned char>(c);
  if (u >= 0x20 && u < 0x7F && c != '\'') return std::string(1, c);
  constexpr const char* kHex = "0123456789abcdef";
  return std::string("\\x") + kHex[u >> 4] + kHex[u & 15];
}

}  // namespace

Lexer::Lexer(std::string_view text, std::string_view filename) : text_(text), file_(filename) {}

Token Lexer::Next() {
  if (!status_.ok()) return end_;
  absl::StatusOr<Token> tok = Lex();
  if (!tok.ok()) {
    status_ = tok.status();
    end_.line = line_;
    end_.col = col_;
    return end_;
  }
  return *std::move(tok);
}

absl::StatusOr<Token> Lexer::Lex() {
  SkipSpaceAndComments();
  Token tok;
  tok.line = line_;
  tok.col = col_;
  if (pos_ >= text_.size()) {
    end_ = tok;
    return tok;
  }
  char c = text_[pos_];
  if (IsIdentStart(c)) {
    tok.kind = TokenKind::kIdent;
    size_t start = pos_;
    while (pos_ < text_.size() && IsIdentChar(text_[pos_])) Advance();
    tok.text = std::string(text_.substr(start, pos_ - start));
  } else if (c == '"') {
    tok.kind = TokenKind::kString;
    FLEET_RETURN_IF_ERROR(LexString(tok, &tok.text));
  } else if (c == '%') {
    tok.kind = TokenKind::kVar;
    Advance();
    if (pos_ < text_.size() && text_[pos_] == '"') {
      FLEET_RETURN_IF_ERROR(LexString(tok, &tok.text));
    } else {
      size_t start = pos_;
      while (pos_ < text_.size() && IsBareVarNameChar(text_[pos_])) Advance();
      if (pos_ == start) return Error(tok, "expected a var name after '%'");
      tok.text = std::string(text_.substr(start, pos_ - start));
    }
  } else if (IsDigit(c) || c == '-') {
    FLEET_RETURN_IF_ERROR(LexNumber(tok));
  } else if (c != '\0' && std::strchr("(){}[]<>,:=|?^", c) != nullptr) {
    tok.kind = TokenKind::kPunct;
    tok.text = std::string(1, c);
    Advance();
  } else {
    return Error(tok, absl::StrCat("unexpected character '", ShowChar(c), "'"));
  }
  return tok;
}

void Lexer::Advance() {
  if (text_[pos_] == '\n') {
    ++line_;
    col_ = 1;
  } else {
    ++col_;
  }
  ++pos_;
}

absl::Status Lexer::Error(const Token& at, const std::string& what) const {
  return absl::InvalidArgumentError(
      absl::StrCat(file_, ":", at.line, ":", at.col, ": error: ", what));
}

void Lexer::SkipSpaceAndComments() {
  while (pos_ < text_.size()) {
    char c = text_[pos_];
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
      Advance();
    } else if (c == '#') {
      while (pos_ < text_.size() && text_[pos_] != '\n') Advance();
    } else {
      break;
    }
  }
}

// Reads "..." at pos_ into *out; a string may not span lines.
absl::Status Lexer::LexString(const Token& tok, std::string* out) {
  Advance();  // opening quote
  while (true) {
    if (pos_ >= text_.size() || text_[pos_] == '\n') {
      return Error(tok, "unterminated string (strings end with '\"' on the same line)");
    }
    char c = text_[pos_];
    if (c == '"') {
      Advance();
      return absl::OkStatus();
    }
    if (c != '\\') {
      out->push_back(c);
      Advance();
      continue;
    }
    Token at;
    at.line = line_;
    at.col = col_;
    Advance();
    if (pos_ >= text_.size()) return Error(tok, "unterminated string");
    char e = text_[pos_];
    switch (e) {
      case '"':
        out->push_back('"');
        break;
      case '\\':
        out->push_back('\\');
        break;
      case 'n':
        out->push_back('\n');
        break;
      case 't':
        out->push_back('\t');
        break;
      case 'r':
        out->push_back('\r');
        break;
      case 'x': {
        int hi = pos_ + 1 < text_.size() ? HexValue(text_[pos_ + 1]) : -1;
        int lo = pos_ + 2 < text_.size() ? HexValue(text_[pos_ + 2]) : -1;
        if (hi < 0 || lo < 0) return Error(at, "expected two hex digits after '\\x'");
        out->push_back(static_cast<char>(hi * 16 + lo));
        Advance();
        Advance();
        break;
      }
      default:
        return Error(at, absl::StrCat("unknown escape '\\", ShowChar(e),
                                      "' (expected \\\" \\\\ \\n \\t \\r or \\xHH)"));
    }
    Advance();
  }
}

absl::Status Lexer::LexNumber(Token& tok) {
  tok.kind = TokenKind::kNumber;
  size_t start = pos_;
  if (text_[pos_] == '-') {
    Advance();
    if (text_.substr(pos_, 3) == "inf" &&
        (pos_ + 3 >= text_.size() || !IsIdentChar(text_[pos_ + 3]))) {
      Advance();
      Advance();
      Advance();
      tok.text = "-inf";
      tok.is_float = true;
      return absl::OkStatus();
    }
    if (pos_ >= text_.size() || !IsDigit(text_[pos_])) {
      return Error(tok, "expected a digit after '-'");
    }
  }
  while (pos_ < text_.size() && IsDigit(text_[pos_])) Advance();
  if (pos_ < text_.size() && text_[pos_] == '.') {
    tok.is_float = true;
    Advance();
    while (pos_ < text_.size() && IsDigit(text_[pos_])) Advance();
  }
  if (pos_ < text_.size() && (text_[pos_] == 'e' || text_[pos_] == 'E')) {
    tok.is_float = true;
    Advance();
    if (pos_ < text_.size() && (text_[pos_] == '+' || text_[pos_] == '-')) Advance();
    if (pos_ >= text_.size() || !IsDigit(text_[pos_])) {
      return Error(tok, "malformed number: expected digits in the exponent");
    }
    while (pos_ < text_.size() && IsDigit(text_[pos_])) Advance();
  }
  tok.text = std::string(text_.substr(start, pos_ - start));
  if (pos_ < text_.size() && IsIdentChar(text_[pos_])) {
    return Error(tok, absl::StrCat("malformed number '", tok.text, ShowChar(text_[pos_]), "'"));
  }
  return absl::OkStatus();
}

std::string DescribeToken(const Token& token) {
  constexpr size_t kMax = 24;
  auto clip = [&](std::string s) {
    if (s.size() > kMax) s = s.substr(0, kMax) + "...";
    return s;
  };
  switch (token.kind) {
    case TokenKind::kEnd:
      return "end of file";
    case TokenKind::kString:
      return absl::StrCat("'", clip(Quote(token.text)), "'");
    case TokenKind::kVar:
      return absl::StrCat("'", clip(VarRef(token.text)), "'");
    default:
      return absl::StrCat("'", clip(token.text), "'");
  }
}

}  // namespace text
}  // namespace fleet
