// Static shape and dtype inference: what an op's inference function (OpSchema::infer) sees, and
// the shape algebra the functions share.
//
// An inference function reads the declared types of its op's inputs (and the values of constant
// inputs, such as Reshape's `shape`), its attributes (with the schema's defaults), and sets the
// type of each output it can tell. Unknown is never an error and never guessed: a dim of -1 or
// an unknown rank is compatible with anything, an input of unknown type gives outputs of unknown
// type, and an output the function leaves unset stays unknown. Inputs that cannot go together
// (MatMul inner dims 8 vs 9, operands that do not broadcast) are INVALID_ARGUMENT, with a message
// that names the input slots but not the op (the caller prefixes Op::Describe()).
//
// The verifier (ir/verify_shapes.h) runs these functions over every op after every pass, so they
// must stay cheap: they look at the op's own inputs only (finding whether an input is a constant
// scans the program's ops, which only shape-giving inputs such as Reshape's ask for).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "ir/op_schema.h"
#include "ir/program.h"

namespace fleet {

using Shape = std::vector<int64_t>;

// A value's static type: dtype (kUndefined when unknown) and shape (nullopt: unknown rank).
struct TensorType {
  DataType dtype = DataType::kUndefined;
  std::optional<Shape> shape;

  static TensorType Of(const Var& var) { return {var.dtype, var.shape}; }
  static TensorType Of(const Var* var) { return var == nullptr ? TensorType{} : Of(*var); }
};

// "[?,10]": a shape as the text form writes it (? an unknown dim).
std::string DimsString(const Shape& shape);
// "f32[?,10]" (? an unknown dim), "f32[]" (a scalar), "f32[...]" (unknown rank); "?" stands for
// an unknown dtype.
std::string TypeString(const TensorType& type);

// Whether a value of type `b` may be declared as `a`: dtypes equal or one unknown, ranks equal or
// one unknown, and each dim equal or one unknown.
bool Compatible(const TensorType& a, const TensorType& b);

// What inference reads besides the op itself: the declared vars visible from a block (the block
// and its ancestors) and the values of constant vars. Holds references; not thread-safe.
class InferScope {
 public:
  InferScope(const Program& program, const Block& block);

  const Program& program() const { return program_; }
  // The var declared in the block or an ancestor, or nullptr.
  const Var* FindVar(std::string_view name) const;
  // The value `name` holds in every step, or nullptr: the output of a Constant op seen so far
  // (NoteOp), or an initial value with bytes of a var that is not fed, not trainable, and that
  // no op other than Constant writes.
  const TensorValue* FindConstant(const std::string& name) const;
  // Call after inferring each op in block order: remembers Constant ops' values.
  void NoteOp(const Op& op);

 private:
  bool WrittenByNonConstantOp(std::string_view name) const;

  const Program& program_;
  const Block& block_;
  std::vector<std::pair<const std::string*, const TensorValue*>> constant_ops_;
};

// The context of one op's inference: inputs by slot name (as the schema names them), attributes
// with schema defaults, and the outputs the function sets.
class InferContext {
 public:
  InferContext(const Op& op, const OpSchema& schema, const InferScope& scope);

  const Op& op() const { return op_; }

  // Inputs. The declared var at position i of a slot, or nullptr when the slot or position is
  // absent (an absent optional input) or the var is not declared.
  const Var* Input(std::string_view slot, int i = 0) const;
  int NumInputs(std::string_view slot) const;
  bool HasInput(std::string_view slot, int i = 0) const { return Input(slot, i) != nullptr; }
  // The input's type; unknown when absent.
  TensorType InputType(std::string_view slot, int i = 0) const {
    return TensorType::Of(Input(slot, i));
  }
  // The input's dtype; kUndefined when absent.
  DataType InputDtype(std::string_view slot, int i = 0) const;
  // The input's shape, or nullptr when absent or of unknown rank.
  const Shape* InputShape(std::string_view slot, int i = 0) const;
  // The input's rank, or -1 when unknown.
  int64_t InputRank(std::string_view slot, int i = 0) const;
  // A constant integer (i64/i32) input's elements, or nullopt when the input is not constant.
  std::optional<std::vector<int64_t>> InputInts(std::string_view slot, int i = 0) const;

  // Attributes: the op's value, else the schema's default, else `fallback`.
  int64_t Int(std::string_view name, int64_t fallback = 0) const;
  float Float(std::string_view name, float fallback = 0.0f) const;
  std::string String(std::string_view name, std::string_view fallback = "") const;
  // An ints attribute (the op's, else the schema's default), or nullptr when neither is set.
  const std::vector<int64_t>* Ints(std::string_view name) const;
  // Any attribute the op sets (no defaults), or nullptr.
  const AttrValue* OpAttr(std::string_view name) const;

  // Outputs. Whether the op writes output position i of a slot.
  bool HasOutput(std::string_view slot, int i = 0) const;
  int NumOutputs(std::string_view slot) const;
  // Sets the inferred type of output (slot, i); ignored when the op leaves it absent.
  void SetOutput(std::string_view slot, TensorType type, int i = 0);
  void SetOutput(std::string_view slot, DataType dtype, std::optional<Shape> shape, int i = 0) {
    SetOutput(slot, TensorType{dtype, std::move(shape)}, i);
  }

  // One entry per output var the op writes, in slot order; `type` unset when inference left it.
  struct Result {
    const std::string* slot;
    int index;  // position within the slot
    const std::string* var;
    std::optional<TensorType> type;
  };
  const std::vector<Result>& results() const { return results_; }

 private:
  const std::string* InputName(std::string_view slot, int i) const;
  const AttrValue* AttrOrDefault(std::string_view name) const;

  const Op& op_;
  const OpSchema& schema_;
  const InferScope& scope_;
  std::vector<Result> results_;
};

// Runs the schema's inference function over `op`: the type it gives each output var (an empty
// list when the op type has no inference function). On error the message is prefixed with the
// op's description (and the program's source when the op has no file location).
absl::StatusOr<std::vector<InferContext::Result>> InferOp(const InferScope& scope, const Op& op);

// "prog.txt:9:3: op 'fc2' (MatMul)": Op::Describe(), prefixed with the program's source when the
// op carries no file of its own.
std::string DescribeOpIn(const Program& program, const Op& op);

// Sets OpSchema::infer on every schema in `schemas` that has a built-in inference function.
// Called once when the schema registry is built (ir/op_schema.cc).
void InstallShapeInference(std::map<std::string, OpSchema, std::less<>>& schemas);

// ---- Shape algebra shared by the inference functions (ir/shape_infer_*.cc) -----------------

// An INVALID_ARGUMENT with `message` (the op prefix is added by the caller).
absl::Status ShapeError(std::string message);

// The numpy broadcast of two known-rank shapes. Error when two known dims differ and neither is
// 1; `a_name`/`b_name` name the inputs in the message.
absl::StatusOr<Shape> BroadcastKnown(const Shape& a, const Shape& b, const std::string& a_name,
                                     const std::string& b_name);
// The numpy broadcast of two shapes (nullptr: unknown rank gives nullopt). Error when two known
// dims differ and neither is 1; `a_name`/`b_name` name the inputs in the message.
absl::StatusOr<std::optional<Shape>> Broadcast(const Shape* a, const Shape* b,
                                               const std::string& a_name,
                                               const std::string& b_name);

// Two shapes that must be equal, merged (each unknown dim filled from the other). Error naming
// both when ranks or known dims differ.
absl::StatusOr<std::optional<Shape>> MergeShapes(const Shape* a, const Shape* b,
                                                 const std::string& a_name,
                                                 const std::string& b_name);

// `axis` in [-rank, rank) made non-negative; error naming `what` otherwise.
absl::StatusOr<int64_t> NormalizeAxis(int64_t axis, int64_t rank, const std::string& what);

// An inference function giving the first output the first input's type (unary math,
// activations, Identity, Clip, ...); with `dtype` set, that dtype instead (IsInf, IsNaN).
InferFn SameAsFirstInput(DataType dtype = DataType::kUndefined);

// a + b and a * b, or nullopt when the result does not fit in int64 (dims read from a program
// may be anything; a size that overflows is unknown, never a wrapped-around value).
std::optional<int64_t> CheckedAdd(int64_t a, int64_t b);
std::optional<int64_t> CheckedMul(int64_t a, int64_t b);

// The product of `dims`, or -1 when any is unknown or the product overflows.
int64_t KnownProduct(const Shape& dims);

// `rank` unknown dims.
inline Shape UnknownDims(int64_t rank) { return Shape(static_cast<size_t>(rank), -1); }

// Function tables of the op families; each adds (op type, function) pairs.
using InferTable = std::vector<std::pair<std::string, InferFn>>;
void AddElementwiseInference(InferTable& table);
void AddMatrixInference(InferTable& table);
void AddNnInference(InferTable& table);
void AddShapeOpInference(InferTable& table);
void AddIndexOpInference(InferTable& table);
void AddReduceInference(InferTable& table);
void AddFleetOpInference(InferTable& table);
void AddGradOpInference(InferTable& table);

}  // namespace fleet
