// GradBuilder: what a gradient rule sees while the autodiff pass differentiates one op.
//
// A rule (OpSchema::grad, set with SetGradRule) reads the forward op's vars and the gradients
// flowing into its outputs, and appends backward ops that compute the gradients of the inputs
// that need one:
//
//   // Y = Relu(X):  dX = fleet.relu_grad(Y, dY)
//   absl::Status ReluGrad(GradBuilder& g) {
//     if (!g.NeedsGrad("X")) return absl::OkStatus();
//     g.Emit("fleet.relu_grad", {{"Out", {g.Output("Y")}}, {"OutGrad", {g.OutputGrad("Y")}}},
//            {{"XGrad", {g.InputGrad("X")}}});
//     return absl::OkStatus();
//   }
//
// Slots are named as in the op's schema (ONNX ops: ONNX's names, "A", "B", "X", "Y", ...). The
// rule runs only when at least one output carries a gradient and one input needs one. Emitted
// ops get the backward role and the forward op's location, so errors (and --check-nan) name the
// forward node. Gradient vars are named "<var>@GRAD"; the pass adds the gradients of a var
// read by several ops.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "ir/program.h"

namespace fleet {

class GradBuilder {
 public:
  // How the pass hands out the var that receives one input's gradient: given the forward var
  // and the kind of gradient, declares a var in the block and returns its name.
  using InputGradNamer = std::function<std::string(const std::string& forward_var, VarKind kind)>;

  // `op` is a copy of the forward op (Emit appends to block.ops, which may move its ops).
  // `output_grads`: forward var -> the var holding its gradient (vars absent have none).
  // `needs_grad`: forward vars whose gradient the pass wants.
  GradBuilder(const Op& op, Block& block, const std::map<std::string, std::string>& output_grads,
              const std::set<std::string>& needs_grad, InputGradNamer namer);

  const Op& op() const { return op_; }
  Block& block() { return block_; }

  // The forward var at position i of a slot, or "" when the slot or position is absent.
  const std::string& Input(std::string_view slot, int i = 0) const;
  const std::string& Output(std::string_view slot, int i = 0) const;
  int NumInputs(std::string_view slot) const;
  // The declared var, or nullptr (absent position, undeclared var).
  const Var* InputVar(std::string_view slot, int i = 0) const;
  const Var* OutputVar(std::string_view slot, int i = 0) const;

  // The gradient flowing into output (slot, i), or "" when none flows (it counts as zero).
  std::string OutputGrad(std::string_view slot, int i = 0) const;
  // OutputGrad, or a zero tensor shaped like the output (emitting fleet.fill_like) when no
  // gradient flows; for rules of ops with several outputs.
  std::string OutputGradOrZeros(std::string_view slot, int i = 0);

  // Whether input (slot, i) wants a gradient (a float var on the path from a parameter to the
  // loss that is not under stop_gradient).
  bool NeedsGrad(std::string_view slot, int i = 0) const;
  // The var to write input (slot, i)'s gradient to, declared with the input's dtype and
  // shape. Call once per position, and only when NeedsGrad is true. `kind` kSparseRows for
  // a gradient that touches some rows of a table (Gather on an embedding).
  std::string InputGrad(std::string_view slot, int i = 0, VarKind kind = VarKind::kDense);

  // A new var for an intermediate result: a fresh name built from the op and `hint`.
  // `shape` nullopt: rank unknown.
  std::string Temp(std::string_view hint, DataType dtype,
                   std::optional<std::vector<int64_t>> shape = std::nullopt);
  // A new var like `var` (its dtype and shape).
  std::string TempLike(std::string_view hint, const std::string& var);

  // Appends an op with the backward role and the forward op's location. The reference is
  // valid until the next Emit.
  Op& Emit(std::string type, std::vector<Slot> inputs, std::vector<Slot> outputs,
           AttrMap attrs = {});

 private:
  const std::vector<std::string>* SlotVars(const std::vector<Slot>& slots,
                                           std::string_view slot) const;

  const Op& op_;
  Block& block_;
  const std::map<std::string, std::string>& output_grads_;
  const std::set<std::string>& needs_grad_;
  InputGradNamer namer_;
};

// The name of a var's gradient: "<var>@GRAD".
std::string GradVarName(std::string_view var);

// A var name not declared in `block`: `base`, else base_1, base_2, ...
std::string FreshVarName(const Block& block, std::string_view base);

}  // namespace fleet
