#include "ir/grad/grad_util.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "ir/op_schema.h"

namespace fleet {

bool SameStaticShape(const Var* a, const Var* b) {
  if (a == nullptr || b == nullptr || !a->shape || !b->shape || *a->shape != *b->shape) {
    return false;
  }
  return std::none_of(a->shape->begin(), a->shape->end(), [](int64_t d) { return d < 0; });
}

Slot SlotOrAbsent(std::string name, const std::string& var) {
  if (var.empty()) return {std::move(name), {}};
  return {std::move(name), {var}};
}

void EmitBroadcastGrad(GradBuilder& g, std::string_view slot, int i, const std::string& grad,
                       const std::string& output_var) {
  const std::string& input = g.Input(slot, i);
  const Var* in = g.block().FindVar(input);
  const Var* out = g.block().FindVar(output_var);
  const bool same = SameStaticShape(in, out);
  const std::string target = g.InputGrad(slot, i);
  if (same) {
    g.Emit("Identity", {{"input", {grad}}}, {{"output", {target}}});
  } else {
    g.Emit("fleet.reduce_to_like", {{"X", {grad}}, {"Like", {input}}}, {{"Out", {target}}});
  }
}

std::string SumToInputShape(GradBuilder& g, std::string_view slot, int i, const std::string& grad,
                            const std::string& output_var) {
  const std::string& input = g.Input(slot, i);
  if (SameStaticShape(g.block().FindVar(input), g.block().FindVar(output_var))) return grad;
  std::string summed = g.TempLike("sum", input);
  g.Emit("fleet.reduce_to_like", {{"X", {grad}}, {"Like", {input}}}, {{"Out", {summed}}});
  return summed;
}

std::string EmitBinary(GradBuilder& g, std::string_view type, const std::string& a,
                       const std::string& b, const std::string& like, std::string_view hint) {
  std::string out = g.TempLike(hint, like);
  g.Emit(std::string(type), {{"A", {a}}, {"B", {b}}}, {{"C", {out}}});
  return out;
}

std::string EmitUnary(GradBuilder& g, std::string_view type, const std::string& x,
                      const std::string& like, std::string_view hint) {
  std::string out = g.TempLike(hint, like);
  const OpSchema* schema = FindOpSchema(type);
  const bool named = schema != nullptr && !schema->inputs.empty() && !schema->outputs.empty();
  g.Emit(std::string(type), {{named ? schema->inputs[0].name : "X", {x}}},
         {{named ? schema->outputs[0].name : "Y", {out}}});
  return out;
}

absl::StatusOr<std::string> EmitScalar(GradBuilder& g, double value, DataType dtype,
                                       std::string_view hint) {
  TensorValue t;
  t.dtype = dtype;
  if (dtype == DataType::kF64) {
    t.bytes.assign(reinterpret_cast<const char*>(&value), sizeof(value));
  } else if (dtype == DataType::kF32) {
    const float f = static_cast<float>(value);
    t.bytes.assign(reinterpret_cast<const char*>(&f), sizeof(f));
  } else {
    return absl::UnimplementedError(absl::StrCat("a constant of dtype ", DataTypeName(dtype),
                                                 " in a backward graph; have f32, f64"));
  }
  std::string out = g.Temp(hint, dtype, std::vector<int64_t>{});
  g.Emit("Constant", {}, {{"output", {out}}}, {{"value", AttrValue(std::move(t))}});
  return out;
}

AttrMap CopyAttrs(const Op& op, std::initializer_list<const char*> names) {
  AttrMap attrs;
  for (const char* name : names) {
    auto it = op.attrs.find(name);
    if (it != op.attrs.end()) attrs[name] = it->second;
  }
  return attrs;
}

}  // namespace fleet
