// Small builders for the schemas of Fleet's own ops (ir/fleet_ops.cc and the per-family
// ir/fleet_grad_ops_*.cc files): slots with a type group and arity, attributes with defaults.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "ir/op_schema.h"

namespace fleet::schema {

// A slot; slots sharing a non-empty `type_group` must hold the same dtype.
inline SlotSpec SlotOf(std::string name, std::string type_group = "T",
                       SlotArity arity = SlotArity::kSingle) {
  SlotSpec s;
  s.name = std::move(name);
  s.type_group = std::move(type_group);
  s.arity = arity;
  return s;
}
inline SlotSpec OptionalSlot(std::string name, std::string type_group = "T") {
  return SlotOf(std::move(name), std::move(type_group), SlotArity::kOptional);
}
inline SlotSpec VariadicSlot(std::string name, std::string type_group = "T") {
  return SlotOf(std::move(name), std::move(type_group), SlotArity::kVariadic);
}

// An attribute of `type`; `default_value` empty: none (the kernel tells presence apart).
inline AttrSpec AttrOf(std::string name, AttrType type,
                       std::optional<AttrValue> default_value = std::nullopt) {
  AttrSpec a;
  a.name = std::move(name);
  a.type = type;
  a.default_value = std::move(default_value);
  return a;
}

// Attributes of one type with a default.
inline AttrSpec IntAttr(std::string name, int64_t default_value) {
  return AttrOf(std::move(name), AttrType::kInt, AttrValue(default_value));
}
inline AttrSpec FloatAttr(std::string name, float default_value) {
  return AttrOf(std::move(name), AttrType::kFloat, AttrValue(default_value));
}
inline AttrSpec StringAttr(std::string name, std::string default_value) {
  return AttrOf(std::move(name), AttrType::kString, AttrValue(std::move(default_value)));
}

// An attribute every op of the type must set (no default).
inline AttrSpec RequiredAttr(std::string name, AttrType type) {
  AttrSpec a = AttrOf(std::move(name), type);
  a.required = true;
  return a;
}

inline OpSchema MakeSchema(std::string type, std::vector<SlotSpec> inputs,
                           std::vector<SlotSpec> outputs, std::vector<AttrSpec> attrs = {}) {
  OpSchema s;
  s.type = std::move(type);
  s.inputs = std::move(inputs);
  s.outputs = std::move(outputs);
  for (AttrSpec& a : attrs) {
    std::string name = a.name;
    s.attrs.emplace(std::move(name), std::move(a));
  }
  return s;
}

}  // namespace fleet::schema
