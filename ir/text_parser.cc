// ParseProgramText: reads the program text form described in text_format.h. Attribute values
// are parsed in text_parser_attrs.cc.
#include "ir/text_parser.h"

#include <charconv>
#include <limits>
#include <set>

#include "absl/strings/str_cat.h"
#include "ir/program_upgrade.h"
#include "ir/status_macros.h"
#include "ir/tensor_checks.h"
#include "ir/text_format.h"
#include "ir/text_syntax.h"

namespace fleet {
namespace text {
namespace {

bool IsVarAttrWord(std::string_view s) {
  if (s == "sparse_rows" || s == "init") return true;
  for (const FlagName& f : kVarFlagNames) {
    if (s == f.name) return true;
  }
  return false;
}

}  // namespace

absl::StatusOr<std::string> TextParser::ParseString(const std::string& context, bool utf8) {
  if (Peek().kind != TokenKind::kString) return Expected("a string", context);
  const Token& t = Next();
  if (utf8 && !IsValidUtf8(t.text)) return Error(t, "string is not valid UTF-8");
  return t.text;
}

absl::StatusOr<std::string> TextParser::ParseName(const std::string& context) {
  if (Peek().kind == TokenKind::kIdent) return Next().text;
  if (Peek().kind == TokenKind::kString) return ParseString(context);
  return Expected("a name", context);
}

absl::StatusOr<int64_t> TextParser::ParseInt(const std::string& context) {
  const Token t = Peek();
  if (t.kind != TokenKind::kNumber || t.is_float) return Expected("an integer", context);
  int64_t v = 0;
  auto [ptr, ec] = std::from_chars(t.text.data(), t.text.data() + t.text.size(), v);
  if (ec != std::errc() || ptr != t.text.data() + t.text.size()) {
    return Error(t, absl::StrCat("integer '", t.text, "' is out of range for int64"));
  }
  Next();
  return v;
}

absl::StatusOr<float> TextParser::ParseFloat(const std::string& context) {
  const Token t = Peek();
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

absl::StatusOr<DataType> TextParser::ParseDType() {
  if (Peek().kind != TokenKind::kIdent) return Expected("a dtype (f32, i64, ...)", "");
  std::optional<DataType> dtype = DataTypeFromName(Peek().text);
  if (!dtype) {
    return Error(Peek(), absl::StrCat("unknown dtype '", Peek().text,
                                      "' (expected f32, f64, f16, bf16, i64, i32, i8, u8, "
                                      "bool or undef)"));
  }
  Next();
  return *dtype;
}

absl::StatusOr<std::vector<int64_t>> TextParser::ParseDims(bool allow_unknown) {
  FLEET_RETURN_IF_ERROR(ExpectPunct('[', "to start a shape"));
  std::vector<int64_t> dims;
  if (TryPunct(']')) return dims;
  do {
    if (allow_unknown && TryPunct('?')) {
      dims.push_back(-1);
      continue;
    }
    const Token at = Peek();
    FLEET_ASSIGN_OR_RETURN(int64_t d, ParseInt(allow_unknown ? "or '?' as a dim" : "as a dim"));
    if (d < 0) return Error(at, absl::StrCat("dim ", d, " is negative"));
    dims.push_back(d);
  } while (TryPunct(','));
  FLEET_RETURN_IF_ERROR(ExpectPunct(']', "after the dims of a shape"));
  return dims;
}

// DTYPE[DIMS] of a value: every dim known.
absl::StatusOr<TensorValue> TextParser::ParseValueType() {
  TensorValue value;
  const Token at = Peek();
  FLEET_ASSIGN_OR_RETURN(value.dtype, ParseDType());
  FLEET_ASSIGN_OR_RETURN(value.shape, ParseDims(false));
  absl::Status status = CheckTensorValue(value, true);
  if (!status.ok()) return Error(at, std::string(status.message()));
  return value;
}

absl::Status TextParser::AddValue(const std::string& name, TensorValue value, const Token& at,
                                  bool is_init, Program& program) {
  auto [it, inserted] = program.values.emplace(name, value);
  if (inserted) return absl::OkStatus();
  if (is_init && it->second.dtype == value.dtype && it->second.shape == value.shape) {
    return absl::OkStatus();  // the same name initialised in several blocks
  }
  return Error(at, absl::StrCat("initial value of '", name, "' is declared twice"));
}

absl::Status TextParser::ParseHeader(Program& program) {
  if (!Peek().IsIdent("fleet.program")) {
    return Expected("'fleet.program'", "at the start of a program text");
  }
  Next();
  if (!Peek().IsIdent("v1") && !Peek().IsIdent("v2")) {
    if (Peek().kind == TokenKind::kIdent && Peek().text.size() > 1 && Peek().text[0] == 'v') {
      return Error(Peek(), absl::StrCat("unsupported text format version '", Peek().text,
                                        "' (this build reads v1 and v2)"));
    }
    return Expected("a version 'v2'", "after 'fleet.program'");
  }
  version_ = Next().text == "v1" ? 1 : 2;
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
    } else if (key.text == "training") {
      FLEET_RETURN_IF_ERROR(ParseTrainingFacts(m.training));
    } else if (key.text == "extra") {
      FLEET_RETURN_IF_ERROR(ExpectPunct('{', context));
      if (!TryPunct('}')) {
        do {
          const Token at = Peek();
          FLEET_ASSIGN_OR_RETURN(std::string k, ParseString("as an extra key"));
          FLEET_RETURN_IF_ERROR(ExpectPunct(':', "after an extra key"));
          FLEET_ASSIGN_OR_RETURN(std::string v, ParseString("as an extra value"));
          if (!m.extra.emplace(k, v).second) {
            return Error(at, absl::StrCat("extra key ", Quote(k), " given twice"));
          }
        } while (TryPunct(','));
        FLEET_RETURN_IF_ERROR(ExpectPunct('}', "after extra entries"));
      }
    } else {
      return Error(key, absl::StrCat("unknown header field '", key.text,
                                     "' (expected opset, producer, strategy, role, endpoints, "
                                     "training or extra)"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<Program> TextParser::Run() {
  absl::StatusOr<Program> program = ParseProgram();
  // A lexical error ends the token stream early; report it rather than the "got end of file"
  // the grammar sees next. (With one token of lookahead, the lexical error can sit one token
  // after a syntax error; either is a true error.)
  if (!lexer_.status().ok()) return lexer_.status();
  return program;
}

absl::StatusOr<Program> TextParser::ParseProgram() {
  Program program;
  program.blocks.clear();
  program.source = file_;
  FLEET_RETURN_IF_ERROR(ParseHeader(program));
  while (Peek().IsIdent("value")) {
    const Token at = Next();
    if (Peek().kind != TokenKind::kVar) return Expected("a var name '%name'", "after 'value'");
    std::string name = Next().text;
    if (!IsValidUtf8(name)) return Error(at, "value name is not valid UTF-8");
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
  if (version_ == 1) UpgradeFromVersion1(program);
  return program;
}

absl::Status TextParser::ParseBlock(Program& program) {
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
      return Error(p_at, absl::StrCat("parent ", p,
                                      " is out of range (expected an earlier "
                                      "block, 0..",
                                      index - 1, ")"));
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

absl::Status TextParser::ParseVar(Block& block, Program& program) {
  Next();  // 'var'
  const Token at = Next();
  Var var;
  var.name = at.text;
  if (var.name.empty()) return Error(at, "var name is empty");
  if (!IsValidUtf8(var.name)) return Error(at, "var name is not valid UTF-8");
  FLEET_RETURN_IF_ERROR(ExpectPunct(':', "after the var name"));
  FLEET_ASSIGN_OR_RETURN(var.dtype, ParseDType());
  if (Peek().IsPunct('[')) {
    FLEET_ASSIGN_OR_RETURN(std::vector<int64_t> dims, ParseDims(true));
    var.shape = std::move(dims);
  }
  std::optional<TensorValue> init;
  Token init_at;
  // Flag words always belong to the var: the printer quotes op types spelled like them.
  while (Peek().kind == TokenKind::kIdent && IsVarAttrWord(Peek().text)) {
    const Token word = Next();
    if (word.text == "sparse_rows") {
      var.kind = VarKind::kSparseRows;
    } else if (word.text == "init") {
      init_at = word;
      if (TryPunct('=')) {
        FLEET_ASSIGN_OR_RETURN(init, ParseValueType());
      } else {
        if (!var.shape)
          return Error(word, "'init' on a var of unknown rank needs its type: init=f32[...]");
        init = TensorValue{var.dtype, *var.shape, ""};
        absl::Status status = CheckTensorValue(*init, true);
        if (!status.ok()) {
          return Error(word, absl::StrCat("'init' on var '", var.name, "': ", status.message(),
                                          " (give the value's type: init=f32[...])"));
        }
      }
    } else {
      for (const FlagName& f : kVarFlagNames) {
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

absl::StatusOr<std::vector<Slot>> TextParser::ParseSlots(const char* what) {
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
      if (!IsValidUtf8(t.text)) return Error(t, "var name is not valid UTF-8");
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

absl::Status TextParser::ParseOp(Block& block) {
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
    const Token t = Peek();
    std::string key;
    if (t.IsPunct('{')) {
      key = "{";
    } else if (t.kind == TokenKind::kIdent && Peek(1).IsPunct('=') &&
               (t.text == "name" || t.text == "role" || t.text == "vars" || t.text == "device")) {
      key = t.text;
    } else if (t.IsIdent("loc") && Peek(1).IsPunct('(')) {
      key = "loc";
    } else {
      break;
    }
    if (!seen.insert(key).second) {
      return Error(
          t, key == "{" ? "op has two attribute lists" : absl::StrCat("op has '", key, "' twice"));
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
      } else if (key == "vars") {
        FLEET_RETURN_IF_ERROR(ParseRoleVars(op));
      } else {
        FLEET_RETURN_IF_ERROR(ParseRole(op));
      }
    }
  }
  block.ops.push_back(std::move(op));
  return absl::OkStatus();
}

absl::Status TextParser::ParseLoc(Op& op) {
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

}  // namespace text

absl::StatusOr<Program> ParseProgramText(std::string_view text, std::string_view filename) {
  if (text.size() > static_cast<size_t>(std::numeric_limits<int>::max())) {
    return absl::InvalidArgumentError(absl::StrCat(std::string(filename), ": program text is ",
                                                   text.size(), " bytes; the limit is 2 GiB"));
  }
  return text::TextParser(text, filename).Run();
}

}  // namespace fleet
