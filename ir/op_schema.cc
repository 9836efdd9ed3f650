#include "ir/op_schema.h"

#include <mutex>

#include "ir/fleet_ops.h"
#include "ir/grad/grad_rules.h"
#include "ir/onnx/attribute_convert.h"
#include "ir/shape_infer.h"
#include "onnx/defs/schema.h"

namespace fleet {

const AttrSpec* OpSchema::FindAttr(std::string_view name) const {
  auto it = attrs.find(name);
  return it == attrs.end() ? nullptr : &it->second;
}

namespace {

const std::vector<std::string>& OnnxOpList() {
  static const std::vector<std::string> ops = {
#define FLEET_ONNX_OP(name) #name,
#include "ir/onnx_ops.def"
#undef FLEET_ONNX_OP
  };
  return ops;
}

SlotSpec SlotFromOnnx(const onnx::OpSchema::FormalParameter& p) {
  SlotSpec s;
  s.name = p.GetName();
  switch (p.GetOption()) {
    case onnx::OpSchema::Single: s.arity = SlotArity::kSingle; break;
    case onnx::OpSchema::Optional: s.arity = SlotArity::kOptional; break;
    case onnx::OpSchema::Variadic: s.arity = SlotArity::kVariadic; break;
  }
  // A heterogeneous variadic slot (If's and Loop's values) holds several dtypes.
  if (p.GetIsHomogeneous()) s.type_group = p.GetTypeStr();
  s.min_arity = p.GetOption() == onnx::OpSchema::Variadic ? p.GetMinArity() : 1;
  return s;
}

OpSchema SchemaFromOnnx(const onnx::OpSchema& onnx_schema) {
  OpSchema s;
  s.type = onnx_schema.Name();
  s.from_onnx = true;
  for (const auto& p : onnx_schema.inputs()) s.inputs.push_back(SlotFromOnnx(p));
  for (const auto& p : onnx_schema.outputs()) s.outputs.push_back(SlotFromOnnx(p));
  for (const auto& [name, a] : onnx_schema.attributes()) {
    AttrSpec spec;
    spec.name = name;
    auto type = AttrTypeFromOnnx(a.type);
    if (!type.has_value()) continue;  // sparse tensors, type protos: ops using them are not listed
    spec.type = *type;
    spec.required = a.required;
    if (a.default_value.has_name()) {
      auto value = AttrValueFromOnnx(a.default_value);
      if (value.ok()) spec.default_value = *std::move(value);
    }
    s.attrs.emplace(name, std::move(spec));
  }
  static const char* const kElementwise[] = {"Add", "Sub", "Mul", "Div", "Relu", "Sigmoid",
                                             "Tanh", "Exp", "Log", "Sqrt", "Neg", "Abs"};
  for (const char* e : kElementwise) {
    if (s.type == e) s.traits |= kTraitElementwise;
  }
  return s;
}

struct Registry {
  std::mutex mu;
  std::map<std::string, OpSchema, std::less<>> schemas;
};

Registry& GetRegistry() {
  static Registry* registry = [] {
    auto* r = new Registry();
    for (const std::string& op : OnnxOpList()) {
      const onnx::OpSchema* s = onnx::OpSchemaRegistry::Schema(op, kOnnxOpset, "");
      if (s != nullptr) r->schemas.emplace(op, SchemaFromOnnx(*s));
    }
    for (OpSchema& s : FleetOpSchemas()) {
      std::string type = s.type;
      r->schemas.emplace(std::move(type), std::move(s));
    }
    InstallShapeInference(r->schemas);
    // Each schema carries its gradient rule from the start (a test checks none is left over).
    for (auto& [type, rule] : BuiltinGradRules().rules) {
      auto it = r->schemas.find(type);
      if (it != r->schemas.end()) it->second.grad = std::move(rule);
    }
    return r;
  }();
  return *registry;
}

}  // namespace

std::vector<std::string> PositionalVars(const std::vector<Slot>& slots,
                                        const std::vector<SlotSpec>* specs) {
  std::vector<std::string> out;
  for (size_t i = 0; i < slots.size(); ++i) {
    bool variadic = specs != nullptr && i < specs->size() &&
                    (*specs)[i].arity == SlotArity::kVariadic;
    if (variadic) {
      out.insert(out.end(), slots[i].vars.begin(), slots[i].vars.end());
    } else {
      out.push_back(slots[i].vars.empty() ? std::string() : slots[i].vars[0]);
    }
  }
  while (!out.empty() && out.back().empty()) out.pop_back();
  return out;
}

const OpSchema* FindOpSchema(std::string_view type) {
  Registry& r = GetRegistry();
  auto it = r.schemas.find(type);
  return it == r.schemas.end() ? nullptr : &it->second;
}

void RegisterOpSchema(OpSchema schema) {
  Registry& r = GetRegistry();
  std::lock_guard<std::mutex> lock(r.mu);
  std::string type = schema.type;
  r.schemas.insert_or_assign(std::move(type), std::move(schema));
}

bool SetGradRule(std::string_view type, GradFn rule) {
  Registry& r = GetRegistry();
  std::lock_guard<std::mutex> lock(r.mu);
  auto it = r.schemas.find(type);
  if (it == r.schemas.end()) return false;
  it->second.grad = std::move(rule);
  return true;
}

std::vector<std::string> KnownOpTypes() {
  std::vector<std::string> out;
  for (const auto& [name, s] : GetRegistry().schemas) out.push_back(name);
  return out;
}

}  // namespace fleet
