// PrintProgram: the program text form described in text_format.h.
#include <cstring>
#include <set>
#include <type_traits>

#include "absl/strings/str_cat.h"
#include "ir/bfloat16.h"
#include "ir/text_format.h"
#include "ir/text_syntax.h"

namespace fleet {
namespace {

using text::FormatDouble;
using text::FormatFloat;
using text::IdentOrQuote;
using text::Quote;
using text::VarRef;

// Attribute and slot names: bare when an ident (keywords are fine there), else quoted.
std::string Name(std::string_view s) { return text::IsIdent(s) ? std::string(s) : Quote(s); }

std::string Dims(const std::vector<int64_t>& dims) {
  std::string out = "[";
  for (size_t i = 0; i < dims.size(); ++i) {
    if (i) out += ",";
    if (dims[i] == -1) {
      out += "?";
    } else {
      absl::StrAppend(&out, dims[i]);
    }
  }
  return out + "]";
}

template <typename T>
T Load(const std::string& bytes, size_t i) {
  T v;
  std::memcpy(&v, bytes.data() + i * sizeof(T), sizeof(T));
  return v;
}

void AppendTensor(const TensorValue& t, std::string* out) {
  absl::StrAppend(out, "dense<", DataTypeName(t.dtype), Dims(t.shape), ">[");
  const size_t size = DataTypeSize(t.dtype);
  // Prints what the bytes hold; a malformed tensor prints a count the parser will reject.
  const size_t n = size == 0 ? 0 : t.bytes.size() / size;
  for (size_t i = 0; i < n; ++i) {
    if (i) *out += ", ";
    switch (t.dtype) {
      case DataType::kF32:
        *out += FormatFloat(Load<float>(t.bytes, i));
        break;
      case DataType::kF64:
        *out += FormatDouble(Load<double>(t.bytes, i));
        break;
      case DataType::kF16:
        *out += FormatFloat(text::HalfToFloat(Load<uint16_t>(t.bytes, i)));
        break;
      case DataType::kBF16:
        *out += FormatFloat(BFloat16ToFloat(Load<uint16_t>(t.bytes, i)));
        break;
      case DataType::kI64:
        absl::StrAppend(out, Load<int64_t>(t.bytes, i));
        break;
      case DataType::kI32:
        absl::StrAppend(out, Load<int32_t>(t.bytes, i));
        break;
      case DataType::kI8:
        absl::StrAppend(out, Load<int8_t>(t.bytes, i));
        break;
      case DataType::kU8:
        absl::StrAppend(out, Load<uint8_t>(t.bytes, i));
        break;
      case DataType::kBool:
        *out += Load<uint8_t>(t.bytes, i) ? "true" : "false";
        break;
      case DataType::kUndefined:
        break;
    }
  }
  *out += "]";
}

template <typename T, typename F>
void AppendList(const std::vector<T>& values, const char* empty_type, F format, std::string* out) {
  if (values.empty()) {
    absl::StrAppend(out, empty_type, "[]");
    return;
  }
  *out += "[";
  for (size_t i = 0; i < values.size(); ++i) {
    if (i) *out += ", ";
    *out += format(values[i]);
  }
  *out += "]";
}

void AppendAttr(const AttrValue& value, std::string* out) {
  std::visit(
      [out](const auto& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, int64_t>) {
          absl::StrAppend(out, v);
        } else if constexpr (std::is_same_v<T, float>) {
          *out += FormatFloat(v);
        } else if constexpr (std::is_same_v<T, std::string>) {
          *out += Quote(v);
        } else if constexpr (std::is_same_v<T, std::vector<int64_t>>) {
          AppendList(
              v, "ints", [](int64_t x) { return absl::StrCat(x); }, out);
        } else if constexpr (std::is_same_v<T, std::vector<float>>) {
          AppendList(v, "floats", FormatFloat, out);
        } else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
          AppendList(
              v, "strings", [](const std::string& s) { return Quote(s); }, out);
        } else if constexpr (std::is_same_v<T, TensorValue>) {
          AppendTensor(v, out);
        } else {
          absl::StrAppend(out, "^", v.index);
        }
      },
      value);
}

std::string Refs(const std::vector<std::string>& vars) {
  auto one = [](const std::string& v) { return v.empty() ? std::string("none") : VarRef(v); };
  if (vars.size() == 1) return one(vars[0]);
  std::string out = "[";
  for (size_t i = 0; i < vars.size(); ++i) {
    if (i) out += ", ";
    out += one(vars[i]);
  }
  return out + "]";
}

std::string Slots(const std::vector<Slot>& slots) {
  std::string out = "(";
  for (size_t i = 0; i < slots.size(); ++i) {
    if (i) out += ", ";
    absl::StrAppend(&out, Name(slots[i].name), ": ", Refs(slots[i].vars));
  }
  return out + ")";
}

void AppendOp(const Op& op, std::string* out) {
  *out += "  ";
  if (!op.outputs.empty()) absl::StrAppend(out, Slots(op.outputs), " = ");
  absl::StrAppend(out, IdentOrQuote(op.type), Slots(op.inputs));
  if (!op.attrs.empty()) {
    *out += " {";
    bool first = true;
    for (const auto& [name, value] : op.attrs) {
      absl::StrAppend(out, first ? "" : ", ", Name(name), " = ");
      AppendAttr(value, out);
      first = false;
    }
    *out += "}";
  }
  if (!op.name.empty()) absl::StrAppend(out, " name=", Quote(op.name));
  if (!HasNoRole(op)) absl::StrAppend(out, " role=", text::FormatRole(op.role));
  if (!op.role_vars.empty()) {
    *out += " vars=[";
    for (size_t i = 0; i < op.role_vars.size(); ++i) {
      absl::StrAppend(out, i ? ", " : "", "(", VarRef(op.role_vars[i].param), ", ",
                      VarRef(op.role_vars[i].grad), ")");
    }
    *out += "]";
  }
  if (!op.device.empty()) absl::StrAppend(out, " device=", Quote(op.device));
  // Text positions (line > 0) are not printed: parsing assigns the new text's positions.
  if (op.loc.line == 0 && (!op.loc.file.empty() || !op.loc.node.empty())) {
    *out += " loc(";
    if (!op.loc.file.empty()) *out += Quote(op.loc.file);
    if (!op.loc.node.empty()) {
      absl::StrAppend(out, op.loc.file.empty() ? "" : " ", "node ", Quote(op.loc.node));
    }
    *out += ")";
  }
  *out += "\n";
}

std::string Type(DataType dtype, const std::optional<std::vector<int64_t>>& shape) {
  return absl::StrCat(DataTypeName(dtype), shape ? Dims(*shape) : "");
}

void AppendVar(const Var& var, const Program& program, std::string* out) {
  absl::StrAppend(out, "  var ", VarRef(var.name), " : ", Type(var.dtype, var.shape));
  if (var.kind == VarKind::kSparseRows) *out += " sparse_rows";
  for (const text::FlagName& f : text::kVarFlagNames) {
    if (var.flags & f.bit) absl::StrAppend(out, " ", f.name);
  }
  auto it = program.values.find(var.name);
  if (it != program.values.end()) {
    const TensorValue& v = it->second;
    if (v.dtype == var.dtype && var.shape && *var.shape == v.shape) {
      *out += " init";
    } else {
      absl::StrAppend(out, " init=", Type(v.dtype, v.shape));
    }
  }
  *out += "\n";
}

std::string StringList(const std::vector<std::string>& values) {
  std::string out = "[";
  for (size_t i = 0; i < values.size(); ++i) absl::StrAppend(&out, i ? ", " : "", Quote(values[i]));
  return out + "]";
}

// ` training={loss=%loss, ...}`: the facts that are set; nothing when none is.
std::string TrainingFactsText(const TrainingFacts& t) {
  if (t.empty()) return "";
  std::string out = " training={";
  auto field = [&out](const char* key, const std::string& value) {
    if (value.empty()) return;
    absl::StrAppend(&out, out.back() == '{' ? "" : ", ", key, "=", value);
  };
  field("loss", t.loss.empty() ? "" : VarRef(t.loss));
  field("learning_rate", t.learning_rate.empty() ? "" : VarRef(t.learning_rate));
  field("step", t.step.empty() ? "" : VarRef(t.step));
  field("optimizer", t.optimizer.empty() ? "" : Quote(t.optimizer));
  return out + "}";
}

}  // namespace

std::string PrintProgram(const Program& program) {
  const ProgramMeta& m = program.meta;
  std::string out = absl::StrCat("fleet.program v2 opset=", m.opset,
                                 " producer=", Quote(m.producer), " strategy=", Quote(m.strategy),
                                 " role=", Quote(m.role), " endpoints=", StringList(m.endpoints),
                                 TrainingFactsText(m.training), " extra={");
  bool first = true;
  for (const auto& [k, v] : m.extra) {
    absl::StrAppend(&out, first ? "" : ", ", Quote(k), ": ", Quote(v));
    first = false;
  }
  out += "}\n";

  std::set<std::string> var_names;
  for (const Block& block : program.blocks) {
    for (const Var& var : block.vars()) var_names.insert(var.name);
  }
  for (const auto& [name, value] : program.values) {
    if (!var_names.count(name)) {
      absl::StrAppend(&out, "value ", VarRef(name), " : ",
                      absl::StrCat(DataTypeName(value.dtype), Dims(value.shape)), "\n");
    }
  }

  for (const Block& block : program.blocks) {
    absl::StrAppend(&out, "block ", block.index());
    if (block.parent() != -1) absl::StrAppend(&out, " parent ", block.parent());
    out += " {\n";
    for (const Var& var : block.vars()) AppendVar(var, program, &out);
    for (const Op& op : block.ops) AppendOp(op, &out);
    out += "}\n";
  }
  return out;
}

}  // namespace fleet
