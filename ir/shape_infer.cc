// The inference context and scope, the shape algebra the per-family functions share, and the
// one place that attaches the built-in functions to the schemas (ir/shape_infer_*.cc hold them).
#include "ir/shape_infer.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "ir/status_macros.h"
#include "ir/tensor_checks.h"

namespace fleet {

std::string DimsString(const Shape& shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) out += ",";
    if (shape[i] < 0) {
      out += "?";
    } else {
      absl::StrAppend(&out, shape[i]);
    }
  }
  return out + "]";
}

std::string TypeString(const TensorType& type) {
  return absl::StrCat(type.dtype == DataType::kUndefined ? "?" : DataTypeName(type.dtype),
                      type.shape ? DimsString(*type.shape) : "[...]");
}

bool Compatible(const TensorType& a, const TensorType& b) {
  if (a.dtype != DataType::kUndefined && b.dtype != DataType::kUndefined && a.dtype != b.dtype) {
    return false;
  }
  if (!a.shape || !b.shape) return true;
  if (a.shape->size() != b.shape->size()) return false;
  for (size_t i = 0; i < a.shape->size(); ++i) {
    const int64_t x = (*a.shape)[i], y = (*b.shape)[i];
    if (x >= 0 && y >= 0 && x != y) return false;
  }
  return true;
}

// ---- InferScope ----------------------------------------------------------------------------

InferScope::InferScope(const Program& program, const Block& block)
    : program_(program), block_(block) {}

const Var* InferScope::FindVar(std::string_view name) const {
  for (const Block* b = &block_; b != nullptr;
       b = b->parent() >= 0 ? &program_.blocks[b->parent()] : nullptr) {
    if (const Var* v = b->FindVar(name)) return v;
  }
  return nullptr;
}

bool InferScope::WrittenByNonConstantOp(std::string_view name) const {
  for (const Block& b : program_.blocks) {
    for (const Op& op : b.ops) {
      if (op.type == "Constant") continue;
      for (const Slot& s : op.outputs) {
        for (const std::string& v : s.vars) {
          if (v == name) return true;
        }
      }
    }
  }
  return false;
}

const TensorValue* InferScope::FindConstant(const std::string& name) const {
  const TensorValue* value = nullptr;
  for (auto it = constant_ops_.rbegin(); it != constant_ops_.rend(); ++it) {
    if (*it->first == name) {
      value = it->second;
      break;
    }
  }
  if (value == nullptr) {
    const Var* var = FindVar(name);
    if (var == nullptr || var->Has(kVarFeed) || var->Has(kVarTrainable)) return nullptr;
    auto it = program_.values.find(name);
    if (it == program_.values.end()) return nullptr;
    value = &it->second;
  }
  // Text-form programs carry placeholders without bytes: not a known value.
  if (!CheckTensorValue(*value, /*allow_placeholder=*/false).ok()) return nullptr;
  if (WrittenByNonConstantOp(name)) return nullptr;
  return value;
}

void InferScope::NoteOp(const Op& op) {
  if (op.type != "Constant" || op.outputs.empty() || op.outputs[0].vars.empty()) return;
  auto it = op.attrs.find("value");
  if (it == op.attrs.end()) return;
  if (const TensorValue* t = std::get_if<TensorValue>(&it->second)) {
    constant_ops_.emplace_back(&op.outputs[0].vars[0], t);
  }
}

// ---- InferContext --------------------------------------------------------------------------

InferContext::InferContext(const Op& op, const OpSchema& schema, const InferScope& scope)
    : op_(op), schema_(schema), scope_(scope) {
  size_t n = 0;
  for (const Slot& s : op.outputs) n += s.vars.size();
  results_.reserve(n);
  for (const Slot& s : op.outputs) {
    for (size_t i = 0; i < s.vars.size(); ++i) {
      if (!s.vars[i].empty()) {
        results_.push_back({&s.name, static_cast<int>(i), &s.vars[i], std::nullopt});
      }
    }
  }
}

const std::string* InferContext::InputName(std::string_view slot, int i) const {
  const Slot* s = op_.FindInput(slot);
  if (s == nullptr || i < 0 || i >= static_cast<int>(s->vars.size()) || s->vars[i].empty()) {
    return nullptr;
  }
  return &s->vars[i];
}

const Var* InferContext::Input(std::string_view slot, int i) const {
  const std::string* name = InputName(slot, i);
  return name == nullptr ? nullptr : scope_.FindVar(*name);
}

int InferContext::NumInputs(std::string_view slot) const {
  const Slot* s = op_.FindInput(slot);
  return s == nullptr ? 0 : static_cast<int>(s->vars.size());
}

DataType InferContext::InputDtype(std::string_view slot, int i) const {
  const Var* v = Input(slot, i);
  return v == nullptr ? DataType::kUndefined : v->dtype;
}

const Shape* InferContext::InputShape(std::string_view slot, int i) const {
  const Var* v = Input(slot, i);
  return v == nullptr || !v->shape ? nullptr : &*v->shape;
}

int64_t InferContext::InputRank(std::string_view slot, int i) const {
  const Shape* s = InputShape(slot, i);
  return s == nullptr ? -1 : static_cast<int64_t>(s->size());
}

std::optional<std::vector<int64_t>> InferContext::InputInts(std::string_view slot, int i) const {
  const std::string* name = InputName(slot, i);
  const TensorValue* t = name == nullptr ? nullptr : scope_.FindConstant(*name);
  if (t == nullptr) return std::nullopt;
  const int64_t n = t->NumElements();
  std::vector<int64_t> out(static_cast<size_t>(n));
  for (int64_t k = 0; k < n; ++k) {
    if (t->dtype == DataType::kI64) {
      std::memcpy(&out[k], t->bytes.data() + k * 8, 8);
    } else if (t->dtype == DataType::kI32) {
      int32_t v;
      std::memcpy(&v, t->bytes.data() + k * 4, 4);
      out[k] = v;
    } else {
      return std::nullopt;
    }
  }
  return out;
}

const AttrValue* InferContext::OpAttr(std::string_view name) const {
  auto it = op_.attrs.find(std::string(name));
  return it == op_.attrs.end() ? nullptr : &it->second;
}

const AttrValue* InferContext::AttrOrDefault(std::string_view name) const {
  if (const AttrValue* v = OpAttr(name)) return v;
  const AttrSpec* spec = schema_.FindAttr(name);
  return spec != nullptr && spec->default_value ? &*spec->default_value : nullptr;
}

int64_t InferContext::Int(std::string_view name, int64_t fallback) const {
  const AttrValue* v = AttrOrDefault(name);
  const int64_t* i = v == nullptr ? nullptr : std::get_if<int64_t>(v);
  return i == nullptr ? fallback : *i;
}

float InferContext::Float(std::string_view name, float fallback) const {
  const AttrValue* v = AttrOrDefault(name);
  const float* f = v == nullptr ? nullptr : std::get_if<float>(v);
  return f == nullptr ? fallback : *f;
}

std::string InferContext::String(std::string_view name, std::string_view fallback) const {
  const AttrValue* v = AttrOrDefault(name);
  const std::string* s = v == nullptr ? nullptr : std::get_if<std::string>(v);
  return s == nullptr ? std::string(fallback) : *s;
}

const std::vector<int64_t>* InferContext::Ints(std::string_view name) const {
  const AttrValue* v = AttrOrDefault(name);
  return v == nullptr ? nullptr : std::get_if<std::vector<int64_t>>(v);
}

bool InferContext::HasOutput(std::string_view slot, int i) const {
  for (const Result& r : results_) {
    if (*r.slot == slot && r.index == i) return true;
  }
  return false;
}

int InferContext::NumOutputs(std::string_view slot) const {
  const Slot* s = op_.FindOutput(slot);
  return s == nullptr ? 0 : static_cast<int>(s->vars.size());
}

void InferContext::SetOutput(std::string_view slot, TensorType type, int i) {
  for (Result& r : results_) {
    if (*r.slot == slot && r.index == i) {
      r.type = std::move(type);
      return;
    }
  }
}

std::string DescribeOpIn(const Program& program, const Op& op) {
  std::string where = op.Describe();
  if (op.loc.file.empty() && !program.source.empty()) where = program.source + ": " + where;
  return where;
}

absl::StatusOr<std::vector<InferContext::Result>> InferOp(const InferScope& scope, const Op& op) {
  const OpSchema* schema = FindOpSchema(op.type);
  if (schema == nullptr || !schema->infer) return std::vector<InferContext::Result>{};
  InferContext ctx(op, *schema, scope);
  absl::Status status = schema->infer(ctx);
  if (!status.ok()) {
    return absl::Status(status.code(),
                        absl::StrCat(DescribeOpIn(scope.program(), op), ": ", status.message()));
  }
  return ctx.results();
}

void InstallShapeInference(std::map<std::string, OpSchema, std::less<>>& schemas) {
  InferTable table;
  AddElementwiseInference(table);
  AddMatrixInference(table);
  AddNnInference(table);
  AddShapeOpInference(table);
  AddIndexOpInference(table);
  AddReduceInference(table);
  AddFleetOpInference(table);
  AddGradOpInference(table);
  for (auto& [type, fn] : table) {
    auto it = schemas.find(type);
    // Every op type in the tables has a schema: a missing one is an ONNX build without the op.
    if (it != schemas.end()) it->second.infer = std::move(fn);
  }
}

InferFn SameAsFirstInput(DataType dtype) {
  return [=](InferContext& ctx) -> absl::Status {
    const Op& op = ctx.op();
    if (op.inputs.empty() || op.outputs.empty()) return absl::OkStatus();
    TensorType t = ctx.InputType(op.inputs[0].name);
    if (dtype != DataType::kUndefined) t.dtype = dtype;
    ctx.SetOutput(op.outputs[0].name, std::move(t));
    return absl::OkStatus();
  };
}

// ---- Shape algebra -------------------------------------------------------------------------

absl::Status ShapeError(std::string message) {
  return absl::InvalidArgumentError(std::move(message));
}

absl::StatusOr<Shape> BroadcastKnown(const Shape& a, const Shape& b, const std::string& a_name,
                                     const std::string& b_name) {
  const size_t rank = std::max(a.size(), b.size());
  Shape out(rank);
  for (size_t k = 0; k < rank; ++k) {
    // Aligned from the right; a missing leading dim counts as 1.
    const int64_t x = k + a.size() >= rank ? a[k + a.size() - rank] : 1;
    const int64_t y = k + b.size() >= rank ? b[k + b.size() - rank] : 1;
    if (x == 1) {
      out[k] = y;
    } else if (y == 1) {
      out[k] = x;
    } else if (x < 0) {
      out[k] = y;  // unknown vs n > 1 (or unknown): n if it broadcasts at all
    } else if (y < 0 || x == y) {
      out[k] = x;
    } else {
      return ShapeError(absl::StrCat("inputs '", a_name, "' ", DimsString(a), " and '", b_name,
                                     "' ", DimsString(b), " do not broadcast: ", x, " vs ", y,
                                     " in dim ",
                                     static_cast<int64_t>(k) - static_cast<int64_t>(rank)));
    }
  }
  return out;
}

absl::StatusOr<std::optional<Shape>> Broadcast(const Shape* a, const Shape* b,
                                               const std::string& a_name,
                                               const std::string& b_name) {
  if (a == nullptr || b == nullptr) return std::optional<Shape>();
  FLEET_ASSIGN_OR_RETURN(Shape out, BroadcastKnown(*a, *b, a_name, b_name));
  return std::optional<Shape>(std::move(out));
}

absl::StatusOr<std::optional<Shape>> MergeShapes(const Shape* a, const Shape* b,
                                                 const std::string& a_name,
                                                 const std::string& b_name) {
  if (a == nullptr) return b == nullptr ? std::optional<Shape>() : std::optional<Shape>(*b);
  if (b == nullptr) return std::optional<Shape>(*a);
  bool ok = a->size() == b->size();
  Shape out = *a;
  for (size_t k = 0; ok && k < a->size(); ++k) {
    const int64_t x = (*a)[k], y = (*b)[k];
    if (x >= 0 && y >= 0 && x != y) ok = false;
    if (x < 0) out[k] = y;
  }
  if (!ok) {
    return ShapeError(absl::StrCat("inputs '", a_name, "' ", DimsString(*a), " and '", b_name, "' ",
                                   DimsString(*b), " must have the same shape"));
  }
  return std::optional<Shape>(std::move(out));
}

std::optional<int64_t> CheckedAdd(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_add_overflow(a, b, &r)) return std::nullopt;
  return r;
}

std::optional<int64_t> CheckedMul(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_mul_overflow(a, b, &r)) return std::nullopt;
  return r;
}

int64_t KnownProduct(const Shape& dims) {
  int64_t n = 1;
  for (int64_t d : dims) {
    std::optional<int64_t> next = CheckedMul(n, d);
    if (d < 0 || !next) return -1;
    n = *next;
  }
  return n;
}

absl::StatusOr<int64_t> NormalizeAxis(int64_t axis, int64_t rank, const std::string& what) {
  if (axis < -rank || axis >= rank) {
    return ShapeError(absl::StrCat(what, " ", axis, " is out of range for rank ", rank,
                                   " (expected [", -rank, ", ", rank, "))"));
  }
  return axis < 0 ? axis + rank : axis;
}

}  // namespace fleet
