#include "passes/training/grad_util.h"

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

namespace fleet {

bool SameStaticShape(const Var* a, const Var* b) {
  if (a == nullptr || b == nullptr || !a->shape || !b->shape || *a->shape != *b->shape) {
    return false;
  }
  return std::none_of(a->shape->begin(), a->shape->end(), [](int64_t d) { return d < 0; });
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

std::string EmitBinary(GradBuilder& g, std::string_view type, const std::string& a,
                       const std::string& b, const std::string& like, std::string_view hint) {
  std::string out = g.TempLike(hint, like);
  g.Emit(std::string(type), {{"A", {a}}, {"B", {b}}}, {{"C", {out}}});
  return out;
}

std::string EmitScalarConstant(GradBuilder& g, double value, DataType dtype) {
  TensorValue t;
  t.dtype = dtype == DataType::kF64 ? DataType::kF64 : DataType::kF32;
  if (t.dtype == DataType::kF64) {
    t.bytes.assign(reinterpret_cast<const char*>(&value), sizeof(value));
  } else {
    const float f = static_cast<float>(value);
    t.bytes.assign(reinterpret_cast<const char*>(&f), sizeof(f));
  }
  std::string out = g.Temp("scalar", t.dtype, std::vector<int64_t>{});
  AttrMap attrs;
  attrs["value"] = AttrValue(std::move(t));
  g.Emit("Constant", {}, {{"output", {out}}}, std::move(attrs));
  return out;
}

}  // namespace fleet
