// UpgradeFromVersion1: see program_upgrade.h.
#include "ir/program_upgrade.h"

#include <string>

namespace fleet {
namespace {

bool HasBackwardOp(const Program& program) {
  for (const Block& block : program.blocks) {
    for (const Op& op : block.ops) {
      if (HasRole(op, kRoleBackward)) return true;
    }
  }
  return false;
}

void MoveExtra(ProgramMeta& meta, const char* key, std::string& field) {
  auto it = meta.extra.find(key);
  if (it == meta.extra.end()) return;
  if (field.empty()) field = it->second;
  meta.extra.erase(it);
}

}  // namespace

void UpgradeFromVersion1(Program& program) {
  if (HasBackwardOp(program)) {
    for (Block& block : program.blocks) {
      for (Op& op : block.ops) {
        if (HasNoRole(op) || HasOnlyRole(op, kRoleLoss)) AddRole(op, kRoleForward);
      }
    }
  }
  ProgramMeta& m = program.meta;
  MoveExtra(m, "training.loss", m.training.loss);
  MoveExtra(m, "training.learning_rate", m.training.learning_rate);
  MoveExtra(m, "training.step", m.training.step);
  MoveExtra(m, "training.optimizer", m.training.optimizer);
}

}  // namespace fleet
