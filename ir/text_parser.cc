// ParseProgramText: reads the program text form described in text_format.h.
//
// Recursive descent over the tokens from text_lexer.h. The grammar has no nesting beyond a
// fixed depth (lists hold scalars), so hostile input cannot exhaust the stack; every count and
// index is checked before use.
#include <charconv>
#include <cstring>
#include <limits>
#include <set>

#include "absl/strings/str_cat.h"
#include "ir/status_macros.h"
#include "ir/tensor_checks.h"
#include "ir/text_format.h"
#include "ir/text_lexer.h"
#include "ir/text_syntax.h"

namespace fleet {
namespace {

using text::Token;
using text::TokenKind;

bool IsVarAttrWord(std::string_view s) {
  if (s == "sparse_rows" || s == "init") return true;
  for (const text::FlagName& f : text::kVarFlagNames) {
    if (s == f.name) return true;
  }
  return false;
}

// Appends the bytes of `v` (little-endian hosts only, like the rest of Fleet).
template <typename T>
void Store(T v, std::string* bytes) {
  char buf[sizeof(T)];
  std::memcpy(buf, &v, sizeof(T));
  bytes->append(buf, sizeof(T));
}

class Parser {
 public:
  Parser(std::vector<Token> tokens, std::string_view filename)
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
                                      ", got ", text::DescribeToken(Peek())));
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
  absl::Status AddValue(const std::string& name, TensorValue value, const Token& at,
                        bool is_init, Program& program);

  std::vector<Token> toks_;
  size_t pos_ = 0;
  std::string file_;
  struct PendingRef {
    int index;
    Token at;
  };
  std::vector<PendingRef> block_refs_;  // checked once every block is known
};

absl::StatusOr<std::string> Parser::ParseString(const std::string& context, bool utf8) {
  if (Peek().kind != TokenKind::kString) return Expected("a string", context);
  const Token& t = Next();
  if (utf8 && !text::IsValidUtf8(t.text)) return Error(t, "string is not valid UTF-8");
  return t.text;
}

absl::StatusOr<std::string> Parser::ParseName(const std::string& context) {
  if (Peek().kind == TokenKind::kIdent) return Next().text;
  if (Peek().kind == TokenKind::kString) return ParseString(context);
  return Expected("a name", context);
}

absl::StatusOr<int64_t> Parser::ParseInt(const std::string& context) {
  const Token& t = Peek();
  if (t.kind != TokenKind::kNumber || t.is_float) return Expected("an integer", context);
  int64_t v = 0;
  auto [ptr, ec] = std::from_chars(t.text.data(), t.text.data() + t.text.size(), v);
  if (ec != std::errc() || ptr != t.text.data() + t.text.size()) {
    return Error(t, absl::StrCat("integer '", t.text, "' is out of range for int64"));
  }
  Next();
  return v;
}

absl::StatusOr<float> Parser::ParseFloat(const std::string& context) {
  const Token& t = Peek();
  if (t.kind == TokenKind::kIdent && (t.text == "inf" || t.text == "nan")) {
    Next();
    return t.text == "inf" ? std::numeric_limits<float>::infinity()
                           : std::numeric_limits<float>::quiet_NaN();
  }
  if (t.kind != TokenKind::kNumber) return Expected("a number", context);
  if (t.text == "-inf") {
    Next();
    return -std::numeric_limits<float>::infinity();
  }
  float v = 0;
  auto [ptr, ec] = std::from_chars(t.text.data(), t.text.data() + t.text.size(), v);
  if (ec != std::errc() || ptr != t.text.data() + t.text.size()) {
    return Error(t, absl::StrCat("number '", t.text, "' is out of range for f32"));
  }
  Next();
  return v;
}

absl::StatusOr<DataType> Parser::ParseDType() {
  if (Peek().kind != TokenKind::kIdent) return Expected("a dtype (f32, i64, ...)", "");
  std::optional<DataType> dtype = DataTypeFromName(Peek().text);
  if (!dtype) {
    return Error(Peek(), absl::StrCat("unknown dtype '", Peek().text,
                                      "' (expected f32, f64, f16, i64, i32, i8, u8, bool "
                                      "or undef)"));
  }
  Next();
  return *dtype;
}

absl::StatusOr<std::vector<int64_t>> Parser::ParseDims(bool allow_unknown) {
  FLEET_RETURN_IF_ERROR(ExpectPunct('[', "to start a shape"));
  std::vector<int64_t> dims;
  if (TryPunct(']')) return dims;
  do {
    if (allow_unknown && TryPunct('?')) {
      dims.push_back(-1);
      continue;
    }
    const Token& at = Peek();
    FLEET_ASSIGN_OR_RETURN(int64_t d, ParseInt(allow_unknown ? "or '?' as a dim" : "as a dim"));
    if (d < 0) return Error(at, absl::StrCat("dim ", d, " is negative"));
    dims.push_back(d);
  } while (TryPunct(','));
  FLEET_RETURN_IF_ERROR(ExpectPunct(']', "after the dims of a shape"));
  return dims;
}

// DTYPE[DIMS] of a value: every dim known.
absl::StatusOr<TensorValue> Parser::ParseValueType() {
  TensorValue value;
  FLEET_ASSIGN_OR_RETURN(value.dtype, ParseDType());
  const Token& at = Peek();
  FLEET_ASSIGN_OR_RETURN(value.shape, ParseDims(false));
  absl::Status status = CheckTensorValue(value, true);
  if (!status.ok()) return Error(at, std::string(status.message()));
  return value;
}

absl::Status Parser::AddValue(const std::string& name, TensorValue value, const Token& at,
                              bool is_init, Program& program) {
  auto [it, inserted] = program.values.emplace(name, value);
  if (inserted) return absl::OkStatus();
  if (is_init && it->second.dtype == value.dtype && it->second.shape == value.shape) {
    return absl::OkStatus();  // the same name initialised in several blocks
  }
  return Error(at, absl::StrCat("initial value of '", name, "' is declared twice"));
}

absl::Status Parser::ParseHeader(Program& program) {
  if (!Peek().IsIdent("fleet.program")) {
    return Expected("'fleet.program'", "at the start of a program text");
  }
  Next();
  if (!Peek().IsIdent("v1")) {
    if (Peek().kind == TokenKind::kIdent && Peek().text.size() > 1 && Peek().text[0] == 'v') {
      return Error(Peek(), absl::StrCat("unsupported text format version '", Peek().text,
                                        "' (this build reads v1)"));
    }
    return Expected("a version 'v1'", "after 'fleet.program'");
  }
  Next();
  ProgramMeta& m = program.meta;
  std::set<std::string> seen;
  while (Peek().kind == TokenKind::kIdent && Peek(1).IsPunct('=')) {
    const Token key = Next();
    Next();  // '='
    if (!seen.insert(key.text).second) {
      return Error(key, absl::StrCat("header field '", key.text, "' given twice"));
    }
    std::string context = absl::StrCat("for header field '", key.text, "'");
    if (key.text == "opset") {
      FLEET_ASSIGN_OR_RETURN(m.opset, ParseInt(context));
    } else if (key.text == "producer") {
      FLEET_ASSIGN_OR_RETURN(m.producer, ParseString(context));
    } else if (key.text == "strategy") {
      FLEET_ASSIGN_OR_RETURN(m.strategy, ParseString(context));
    } else if (key.text == "role") {
      FLEET_ASSIGN_OR_RETURN(m.role, ParseString(context));
    } else if (key.text == "endpoints") {
      FLEET_RETURN_IF_ERROR(ExpectPunct('[', context));
      if (!TryPunct(']')) {
        do {
          FLEET_ASSIGN_OR_RETURN(std::string e, ParseString("in endpoints"));
          m.endpoints.push_back(std::move(e));
        } while (TryPunct(','));
        FLEET_RETURN_IF_ERROR(ExpectPunct(']', "after endpoints"));
      }
    } else if (key.text == "extra") {
      FLEET_RETURN_IF_ERROR(ExpectPunct('{', context));
      if (!TryPunct('}')) {
        do {
          const Token at = Peek();
          FLEET_ASSIGN_OR_RETURN(std::string k, ParseString("as an extra key"));
          FLEET_RETURN_IF_ERROR(ExpectPunct(':', "after an extra key"));
          FLEET_ASSIGN_OR_RETURN(std::string v, ParseString("as an extra value"));
          if (!m.extra.emplace(k, v).second) {
            return Error(at, absl::StrCat("extra key ", text::Quote(k), " given twice"));
          }
        } while (TryPunct(','));
        FLEET_RETURN_IF_ERROR(ExpectPunct('}', "after extra entries"));
      }
    } else {
      return Error(key, absl::StrCat("unknown header field '", key.text,
                                     "' (expected opset, producer, strategy, role, endpoints "
                                     "or extra)"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<Program> Parser::Run() {
  Program program;
  program.blocks.clear();
  program.source = file_;
  FLEET_RETURN_IF_ERROR(ParseHeader(program));
  while (Peek().IsIdent("value")) {
    const Token at = Next();
    if (Peek().kind != TokenKind::kVar) return Expected("a var name '%name'", "after 'value'");
    std::string name = Next().text;
    if (!text::IsValidUtf8(name)) return Error(at, "value name is not valid UTF-8");
    if (name.empty()) return Error(at, "value name is empty");
    FLEET_RETURN_IF_ERROR(ExpectPunct(':', "after the value name"));
    FLEET_ASSIGN_OR_RETURN(TensorValue value, ParseValueType());
    FLEET_RETURN_IF_ERROR(AddValue(name, std::move(value), at, false, program));
  }
  while (Peek().IsIdent("block")) FLEET_RETURN_IF_ERROR(ParseBlock(program));
  if (Peek().kind != TokenKind::kEnd) {
    return Expected(program.blocks.empty() ? "'block'" : "'block' or end of file", "");
  }
  if (program.blocks.empty()) return Error(Peek(), "program has no blocks (expected 'block 0')");
  for (const PendingRef& ref : block_refs_) {
    if (ref.index >= static_cast<int>(program.blocks.size())) {
      return Error(ref.at, absl::StrCat("block reference ^", ref.index, " is out of range (",
                                        program.blocks.size(), " blocks)"));
    }
  }
  return program;
}

absl::Status Parser::ParseBlock(Program& program) {
  Next();  // 'block'
  const int expected = static_cast<int>(program.blocks.size());
  const Token at = Peek();
  FLEET_ASSIGN_OR_RETURN(int64_t index, ParseInt("after 'block'"));
  if (index != expected) {
    return Error(at, absl::StrCat("block number is ", index, "; expected ", expected,
                                  " (blocks are numbered in order)"));
  }
  int parent = -1;
  if (Peek().IsIdent("parent")) {
    Next();
    const Token p_at = Peek();
    FLEET_ASSIGN_OR_RETURN(int64_t p, ParseInt("after 'parent'"));
    if (p < 0 || p >= index) {
      return Error(p_at, absl::StrCat("parent ", p, " is out of range (expected an earlier "
                                      "block, 0..", index - 1, ")"));
    }
    parent = static_cast<int>(p);
  }
  FLEET_RETURN_IF_ERROR(ExpectPunct('{', "to open the block"));
  Block block(expected, parent);
  while (!TryPunct('}')) {
    if (Peek().kind == TokenKind::kEnd) return Expected("'}'", "to close the block");
    if (Peek().IsIdent("var") && Peek(1).kind == TokenKind::kVar) {
      FLEET_RETURN_IF_ERROR(ParseVar(block, program));
    } else {
      FLEET_RETURN_IF_ERROR(ParseOp(block));
    }
  }
  program.blocks.push_back(std::move(block));
  return absl::OkStatus();
}

absl::Status Parser::ParseVar(Block& block, Program& program) {
  Next();  // 'var'
  const Token at = Next();
  Var var;
  var.name = at.text;
  if (var.name.empty()) return Error(at, "var name is empty");
  if (!text::IsValidUtf8(var.name)) return Error(at, "var name is not valid UTF-8");
  FLEET_RETURN_IF_ERROR(ExpectPunct(':', "after the var name"));
  FLEET_ASSIGN_OR_RETURN(var.dtype, ParseDType());
  if (Peek().IsPunct('[')) {
    FLEET_ASSIGN_OR_RETURN(std::vector<int64_t> dims, ParseDims(true));
    var.shape = std::move(dims);
  }
  std::optional<TensorValue> init;
  Token init_at;
  // A word followed by '(' starts the next op (an op type that happens to be a flag name).
  while (Peek().kind == TokenKind::kIdent && IsVarAttrWord(Peek().text) && !Peek(1).IsPunct('(')) {
    const Token word = Next();
    if (word.text == "sparse_rows") {
      var.kind = VarKind::kSparseRows;
    } else if (word.text == "init") {
      init_at = word;
      if (TryPunct('=')) {
        FLEET_ASSIGN_OR_RETURN(init, ParseValueType());
      } else {
        if (!var.shape) return Error(word, "'init' on a var of unknown rank needs its type: init=f32[...]");
        init = TensorValue{var.dtype, *var.shape, ""};
        absl::Status status = CheckTensorValue(*init, true);
        if (!status.ok()) {
          return Error(word, absl::StrCat("'init' on var '", var.name, "': ", status.message(),
                                          " (give the value's type: init=f32[...])"));
        }
      }
    } else {
      for (const text::FlagName& f : text::kVarFlagNames) {
        if (word.text == f.name) var.flags |= f.bit;
      }
    }
  }
  const std::string name = var.name;
  if (!block.AddVar(std::move(var))) {
    return Error(at, absl::StrCat("var '", name, "' is declared twice in block ", block.index()));
  }
  if (init) FLEET_RETURN_IF_ERROR(AddValue(name, std::move(*init), init_at, true, program));
  return absl::OkStatus();
}

absl::StatusOr<std::vector<Slot>> Parser::ParseSlots(const char* what) {
  std::vector<Slot> slots;
  FLEET_RETURN_IF_ERROR(ExpectPunct('(', absl::StrCat("to open the ", what, " slot list")));
  if (TryPunct(')')) return slots;
  do {
    Slot slot;
    FLEET_ASSIGN_OR_RETURN(slot.name, ParseName(absl::StrCat("as ", what, " slot name")));
    FLEET_RETURN_IF_ERROR(ExpectPunct(':', "after the slot name"));
    auto parse_ref = [&]() -> absl::Status {
      if (Peek().IsIdent("none")) {
        Next();
        slot.vars.emplace_back();
        return absl::OkStatus();
      }
      if (Peek().kind != TokenKind::kVar) return Expected("'%var' or 'none'", "in a slot");
      const Token& t = Next();
      if (t.text.empty()) return Error(t, "var name is empty (write 'none' for an absent input)");
      if (!text::IsValidUtf8(t.text)) return Error(t, "var name is not valid UTF-8");
      slot.vars.push_back(t.text);
      return absl::OkStatus();
    };
    if (TryPunct('[')) {
      if (!TryPunct(']')) {
        do {
          FLEET_RETURN_IF_ERROR(parse_ref());
        } while (TryPunct(','));
        FLEET_RETURN_IF_ERROR(ExpectPunct(']', "after the vars of a slot"));
      }
    } else {
      FLEET_RETURN_IF_ERROR(parse_ref());
    }
    slots.push_back(std::move(slot));
  } while (TryPunct(','));
  FLEET_RETURN_IF_ERROR(ExpectPunct(')', "after slot list"));
  return slots;
}

absl::Status Parser::ParseOp(Block& block) {
  const Token start = Peek();
  Op op;
  op.loc.file = file_;
  op.loc.line = start.line;
  op.loc.col = start.col;
  if (start.IsPunct('(')) {
    FLEET_ASSIGN_OR_RETURN(op.outputs, ParseSlots("output"));
    FLEET_RETURN_IF_ERROR(ExpectPunct('=', "after the output slots"));
  }
  if (Peek().kind != TokenKind::kIdent && Peek().kind != TokenKind::kString) {
    return Expected(start.IsPunct('(') ? "an op type" : "'var', an op or '}'", "");
  }
  FLEET_ASSIGN_OR_RETURN(op.type, ParseName("as op type"));
  FLEET_ASSIGN_OR_RETURN(op.inputs, ParseSlots("input"));
  std::set<std::string> seen;
  while (true) {
    const Token& t = Peek();
    std::string key;
    if (t.IsPunct('{')) {
      key = "{";
    } else if (t.kind == TokenKind::kIdent && Peek(1).IsPunct('=') &&
               (t.text == "name" || t.text == "role" || t.text == "device")) {
      key = t.text;
    } else if (t.IsIdent("loc") && Peek(1).IsPunct('(')) {
      key = "loc";
    } else {
      break;
    }
    if (!seen.insert(key).second) {
      return Error(t, key == "{" ? "op has two attribute lists"
                                 : absl::StrCat("op has '", key, "' twice"));
    }
    if (key == "{") {
      FLEET_RETURN_IF_ERROR(ParseAttrs(op));
    } else if (key == "loc") {
      FLEET_RETURN_IF_ERROR(ParseLoc(op));
    } else {
      Next();
      Next();  // '='
      if (key == "name") {
        FLEET_ASSIGN_OR_RETURN(op.name, ParseString("for the op name"));
      } else if (key == "device") {
        FLEET_ASSIGN_OR_RETURN(op.device, ParseString("for the op device"));
      } else {
        FLEET_RETURN_IF_ERROR(ParseRole(op));
      }
    }
  }
  block.ops.push_back(std::move(op));
  return absl::OkStatus();
}

absl::Status Parser::ParseRole(Op& op) {
  op.role = kRoleForward;
  do {
    if (Peek().kind != TokenKind::kIdent) return Expected("a role name", "");
    const Token& t = Next();
    std::optional<uint32_t> bit = text::RoleBit(t.text);
    if (!bit) {
      return Error(t, absl::StrCat("unknown role '", t.text,
                                   "' (expected forward, backward, optimize, rpc, dist, "
                                   "lr_sched, collective or loss)"));
    }
    op.role |= *bit;
  } while (TryPunct('|'));
  return absl::OkStatus();
}

absl::Status Parser::ParseLoc(Op& op) {
  Next();  // 'loc'
  Next();  // '('
  Location loc;
  if (Peek().kind == TokenKind::kString) {
    FLEET_ASSIGN_OR_RETURN(loc.file, ParseString("for the location file"));
  }
  if (Peek().IsIdent("node")) {
    Next();
    FLEET_ASSIGN_OR_RETURN(loc.node, ParseString("after 'node'"));
  }
  if (loc.file.empty() && loc.node.empty()) {
    return Expected("a file name or 'node \"name\"'", "in loc(...)");
  }
  FLEET_RETURN_IF_ERROR(ExpectPunct(')', "after the location"));
  op.loc = std::move(loc);
  return absl::OkStatus();
}

absl::Status Parser::ParseAttrs(Op& op) {
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

absl::StatusOr<AttrValue> Parser::ParseAttrValue() {
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
    case TokenKind::kString: return AttrValue(Next().text);
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
        const Token at = Peek();
        FLEET_ASSIGN_OR_RETURN(int64_t index, ParseInt("after '^'"));
        if (index < 0 || index > std::numeric_limits<int>::max()) {
          return Error(at, absl::StrCat("block reference ^", index, " is out of range"));
        }
        block_refs_.push_back({static_cast<int>(index), at});
        return AttrValue(BlockRef{static_cast<int>(index)});
      }
      break;
    default: break;
  }
  return Expected("an attribute value (1, 1.0, \"s\", [...], ints[], dense<...>[...], ^1)", "");
}

// `[...]` typed by its elements, or `ints[...]` / `floats[...]` / `strings[...]` with `type`.
absl::StatusOr<AttrValue> Parser::ParseList(const Token& start, std::string_view type) {
  FLEET_RETURN_IF_ERROR(ExpectPunct('[', "to open a list"));
  if (Peek().IsPunct(']')) {
    Next();
    if (type == "ints") return AttrValue(std::vector<int64_t>{});
    if (type == "floats") return AttrValue(std::vector<float>{});
    if (type == "strings") return AttrValue(std::vector<std::string>{});
    return Error(start, "an empty list needs its type: write ints[], floats[] or strings[]");
  }
  if (type.empty()) {
    const Token& first = Peek();
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
absl::StatusOr<TensorValue> Parser::ParseDense() {
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
          Store(text::FloatToHalf(v), &t.bytes);
          break;
        }
        case DataType::kF64: {
          if (at.kind != TokenKind::kNumber && !at.IsIdent("inf") && !at.IsIdent("nan")) {
            return Expected("a number", "as an f64 element");
          }
          double v = 0;
          if (at.text == "inf" || at.text == "-inf" || at.text == "nan") {
            v = at.text == "nan" ? std::numeric_limits<double>::quiet_NaN()
                                 : (at.text == "inf" ? 1 : -1) *
                                       std::numeric_limits<double>::infinity();
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
          FLEET_ASSIGN_OR_RETURN(int64_t v, ParseInt(absl::StrCat("as an ",
                                                                   DataTypeName(t.dtype),
                                                                   " element")));
          int64_t lo = std::numeric_limits<int64_t>::min(), hi = std::numeric_limits<int64_t>::max();
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

}  // namespace

absl::StatusOr<Program> ParseProgramText(std::string_view text, std::string_view filename) {
  FLEET_ASSIGN_OR_RETURN(std::vector<text::Token> tokens, text::Tokenize(text, filename));
  return Parser(std::move(tokens), filename).Run();
}

}  // namespace fleet
