#include "ir/multi_update.h"

#include "absl/strings/str_join.h"

namespace fleet {
namespace {

const std::vector<UpdateLayout>& Layouts() {
  static const auto* layouts = new std::vector<UpdateLayout>{
      {"fleet.sgd", 3, 2, {}, {"weight_decay"}},
      {"fleet.momentum", 4, 3, {2}, {"mu", "use_nesterov", "weight_decay"}},
      {"fleet.adam", 7, 2, {3, 4, 5, 6}, {"beta1", "beta2", "epsilon", "weight_decay"}},
      {"fleet.adamw", 7, 2, {3, 4, 5, 6}, {"beta1", "beta2", "epsilon", "weight_decay"}},
      {"fleet.adagrad", 4, 3, {2}, {"epsilon", "weight_decay", "initial_accumulator_value"}},
  };
  return *layouts;
}

}  // namespace

const UpdateLayout* FindUpdateLayout(std::string_view type) {
  for (const UpdateLayout& layout : Layouts()) {
    if (type == layout.type) return &layout;
  }
  return nullptr;
}

std::string UpdateTypeNames() {
  std::vector<std::string> names;
  for (const UpdateLayout& layout : Layouts()) names.push_back(layout.type);
  return absl::StrJoin(names, ", ");
}

}  // namespace fleet
