// The program text parser's state, shared by text_parser.cc (program structure) and
// text_parser_attrs.cc (attribute values). Internal to ir/; the entry point is
// ParseProgramText in text_format.h.
#pragma once

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
  TextParser(std::vector<Token> tokens, std::string_view filename)
      : toks_(std::move(tokens)), file_(filename) {}

  absl::StatusOr<Program> Run();

 private:
  // ---- token access ----
  const Token& Peek(size_t k = 0) const {
    size_t i = pos_ + k;
    return i < toks_.size() ? toks_[i] : toks_.back();
  }
  const Token& Next() {
    const Token& t = Peek();
    if (pos_ + 1 < toks_.size()) ++pos_;
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
  absl::Status Expected(const std::string& what, const std::string& context) const {
    return Error(Peek(), absl::StrCat("expected ", what, context.empty() ? "" : " ", context,
                                      ", got ", DescribeToken(Peek())));
  }
  absl::Status ExpectPunct(char c, const std::string& context) {
    if (TryPunct(c)) return absl::OkStatus();
    return Expected(absl::StrCat("'", std::string(1, c), "'"), context);
  }

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
  absl::Status ParseRole(Op& op);
  absl::Status ParseLoc(Op& op);
  absl::Status AddValue(const std::string& name, TensorValue value, const Token& at, bool is_init,
                        Program& program);

  std::vector<Token> toks_;
  size_t pos_ = 0;
  std::string file_;
  struct PendingRef {
    int index;
    Token at;
  };
  std::vector<PendingRef> block_refs_;  // checked once every block is known
};

}  // namespace text
}  // namespace fleet
