// The program text parser's state, shared by text_parser.cc (program structure) and
// text_parser_attrs.cc (attribute values). Internal to ir/; the entry point is
// ParseProgramText in text_format.h.
#pragma once

#include <deque>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "ir/program.h"
#include "ir/text_lexer.h"

namespace fleet {
namespace text {

// Recursive descent over the tokens of one text. The grammar has no nesting beyond a fixed depth
// (lists hold scalars), so hostile input cannot exhaust the stack; every count and index is
// checked before use.
class TextParser {
 public:
  // `text` must outlive the parser.
  TextParser(std::string_view text, std::string_view filename)
      : lexer_(text, filename), file_(filename) {}

  // The program, or the first lexical or syntax error.
  absl::StatusOr<Program> Run();

 private:
  // ---- token access ----
  // The token k places ahead. The reference stays valid until that token is consumed by Next().
  const Token& Peek(size_t k = 0) {
    while (ahead_.size() <= k) ahead_.push_back(lexer_.Next());
    return ahead_[k];
  }
  Token Next() {
    Peek();
    Token t = std::move(ahead_.front());
    ahead_.pop_front();
    return t;
  }
  bool TryPunct(char c) {
    if (!Peek().IsPunct(c)) return false;
    Next();
    return true;
  }

  absl::Status Error(const Token& at, const std::string& what) const {
    return absl::InvalidArgumentError(
        absl::StrCat(file_, ":", at.line, ":", at.col, ": error: ", what));
  }
  // "expected WHAT CONTEXT, got 'tok'".
  absl::Status Expected(const std::string& what, const std::string& context) {
    return Error(Peek(), absl::StrCat("expected ", what, context.empty() ? "" : " ", context,
                                      ", got ", DescribeToken(Peek())));
  }
  absl::Status ExpectPunct(char c, const std::string& context) {
    if (TryPunct(c)) return absl::OkStatus();
    return Expected(absl::StrCat("'", std::string(1, c), "'"), context);
  }

  absl::StatusOr<Program> ParseProgram();

  // ---- pieces ----
  absl::StatusOr<std::string> ParseString(const std::string& context, bool utf8 = true);
  absl::StatusOr<std::string> ParseName(const std::string& context);
  absl::StatusOr<int64_t> ParseInt(const std::string& context);
  absl::StatusOr<float> ParseFloat(const std::string& context);
  absl::StatusOr<DataType> ParseDType();
  absl::StatusOr<std::vector<int64_t>> ParseDims(bool allow_unknown);
  absl::StatusOr<TensorValue> ParseValueType();

  absl::Status ParseHeader(Program& program);
  absl::Status ParseBlock(Program& program);
  absl::Status ParseVar(Block& block, Program& program);
  absl::Status ParseOp(Block& block);
  absl::StatusOr<std::vector<Slot>> ParseSlots(const char* what);
  absl::Status ParseAttrs(Op& op);
  absl::StatusOr<AttrValue> ParseAttrValue();
  absl::StatusOr<AttrValue> ParseList(const Token& start, std::string_view type);
  absl::StatusOr<TensorValue> ParseDense();
  absl::Status ParseLoc(Op& op);
  // Roles, (parameter, gradient) pairs and training facts (text_parser_roles.cc).
  absl::Status ParseRole(Op& op);
  absl::Status ParseRoleVars(Op& op);
  absl::Status ParseTrainingFacts(TrainingFacts& facts);
  absl::StatusOr<std::string> ParseVarRef(const std::string& context);
  absl::Status AddValue(const std::string& name, TensorValue value, const Token& at, bool is_init,
                        Program& program);

  Lexer lexer_;
  std::deque<Token> ahead_;  // lexed, not yet consumed; at most a few tokens
  std::string file_;
  int version_ = 0;  // of the text form, from the header
  struct PendingRef {
    int index;
    Token at;
  };
  std::vector<PendingRef> block_refs_;  // checked once every block is known
};

}  // namespace text
}  // namespace fleet
