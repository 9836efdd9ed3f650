// Helpers shared by the gradient rules (ir/grad/grad_*.cc).
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "ir/grad_builder.h"

namespace fleet {

// Whether `a` and `b` are known, equal shapes (no unknown dims).
bool SameStaticShape(const Var* a, const Var* b);

// The input slot `name` holding `var`, or the slot left empty when `var` is "" (an absent
// optional input; slots are listed in schema order, so absent ones in the middle stay).
Slot SlotOrAbsent(std::string name, const std::string& var);

// Makes `grad` — a gradient shaped like the op's output — the gradient of input (slot, i),
// summed over the dims broadcasting stretched (fleet.reduce_to_like); a plain Identity when
// the shapes are statically equal. Call only when NeedsGrad(slot, i).
void EmitBroadcastGrad(GradBuilder& g, std::string_view slot, int i, const std::string& grad,
                       const std::string& output_var);

// `grad` (shaped like `output_var`) summed down to the shape of input (slot, i): `grad` itself
// when the shapes are statically equal, else a new temp written by fleet.reduce_to_like. For
// rules that transform the summed gradient further (Sub's negation: summing first is cheaper).
std::string SumToInputShape(GradBuilder& g, std::string_view slot, int i, const std::string& grad,
                            const std::string& output_var);

// Appends `type`(A: a, B: b) -> a new temp like `like`, and returns the temp.
std::string EmitBinary(GradBuilder& g, std::string_view type, const std::string& a,
                       const std::string& b, const std::string& like, std::string_view hint);

// Appends a one-input op `type` (Neg, Exp, Sign, ...; its slots named as its schema names them)
// reading `x` and writing a new temp like `like`, and returns the temp.
std::string EmitUnary(GradBuilder& g, std::string_view type, const std::string& x,
                      const std::string& like, std::string_view hint);

// A scalar Constant of `dtype` (f32 or f64) holding `value`; UNIMPLEMENTED for other dtypes.
absl::StatusOr<std::string> EmitScalar(GradBuilder& g, double value, DataType dtype,
                                       std::string_view hint);

// The attributes of the forward op named in `names` (those it has), for grad ops that repeat
// them (the axes of a reduction).
AttrMap CopyAttrs(const Op& op, std::initializer_list<const char*> names);

}  // namespace fleet
