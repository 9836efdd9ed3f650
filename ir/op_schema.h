// Op schemas: for every op type, its slots, attributes (with defaults), traits, and the hooks
// later passes use (shape/dtype inference, gradient rule).
//
// ONNX ops listed in ir/onnx_ops.def take their slots and attributes from ONNX's own schema at
// opset 17 (kOnnxOpset). Fleet's own ops (`fleet.*`) and plugins add schemas with
// RegisterOpSchema. Lookup is thread-safe after start-up; registration is not.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "ir/attribute.h"
#include "ir/grad_builder.h"
#include "ir/program.h"

namespace fleet {

// The ONNX opset whose op forms the IR uses; the importer rewrites older forms into these.
inline constexpr int kOnnxOpset = 17;

enum class SlotArity { kSingle, kOptional, kVariadic };

struct SlotSpec {
  std::string name;
  SlotArity arity = SlotArity::kSingle;
  // Slots with the same non-empty type group must hold the same dtype (ONNX's "T").
  std::string type_group;
  int min_arity = 1;  // for variadic slots
};

struct AttrSpec {
  std::string name;
  AttrType type = AttrType::kInt;
  bool required = false;
  std::optional<AttrValue> default_value;
};

enum OpTrait : uint32_t {
  kTraitElementwise = 1u << 0,
  kTraitCommunication = 1u << 1,
  kTraitOptimizer = 1u << 2,
  kTraitSideEffect = 1u << 3,  // never removed as dead code
};

class InferContext;  // ir/shape_infer.h
// Sets the dtype/shape of an op's outputs from its inputs' declared types (ir/shape_infer.h);
// INVALID_ARGUMENT when the inputs cannot go together.
using InferFn = std::function<absl::Status(InferContext& ctx)>;
// Appends the backward ops of one forward op (see ir/grad_builder.h).
using GradFn = std::function<absl::Status(GradBuilder& g)>;

struct OpSchema {
  std::string type;
  std::vector<SlotSpec> inputs;
  std::vector<SlotSpec> outputs;
  std::map<std::string, AttrSpec, std::less<>> attrs;
  uint32_t traits = 0;
  bool from_onnx = false;  // slots and attributes come from ONNX's schema
  InferFn infer;           // may be empty: the op's output shapes are not checked
  GradFn grad;             // may be empty: the op carries no gradient (yet)

  const AttrSpec* FindAttr(std::string_view name) const;
};

// An op's slots as positions, the way ONNX nodes and kernels see them: one position per
// single/optional slot ("" when absent), every var of a variadic slot; trailing absent
// positions dropped. `specs` may be null (then every slot counts as single).
std::vector<std::string> PositionalVars(const std::vector<Slot>& slots,
                                        const std::vector<SlotSpec>* specs);

// The schema for `type`, or nullptr when Fleet does not know the op.
const OpSchema* FindOpSchema(std::string_view type);
// Adds or replaces a schema (Fleet's own ops, plugins). Call before any lookup from threads.
void RegisterOpSchema(OpSchema schema);
// Sets the gradient rule of a known op; false when Fleet does not know `type`. For plugins that
// add an op: the built-in rules (ir/grad/) are part of the schemas from the first lookup on.
// Call before any lookup from threads.
bool SetGradRule(std::string_view type, GradFn rule);
// Every known op type, sorted.
std::vector<std::string> KnownOpTypes();

}  // namespace fleet
