// Helpers shared by the gradient rules (passes/training/grad_*.cc).
#pragma once

#include <string>
#include <string_view>

#include "ir/grad_builder.h"

namespace fleet {

// Whether `a` and `b` are known, equal shapes (no unknown dims).
bool SameStaticShape(const Var* a, const Var* b);

// Makes `grad` — a gradient shaped like the op's output — the gradient of input (slot, i),
// summed over the dims broadcasting stretched (fleet.reduce_to_like); a plain Identity when
// the shapes are statically equal. Call only when NeedsGrad(slot, i).
void EmitBroadcastGrad(GradBuilder& g, std::string_view slot, int i, const std::string& grad,
                       const std::string& output_var);

// Appends `type`(A: a, B: b) -> a new temp like `like`, and returns the temp.
std::string EmitBinary(GradBuilder& g, std::string_view type, const std::string& a,
                       const std::string& b, const std::string& like, std::string_view hint);

// Appends a Constant op holding the scalar `value` of `dtype` (f32 or f64) and returns its var.
std::string EmitScalarConstant(GradBuilder& g, double value, DataType dtype);

}  // namespace fleet
