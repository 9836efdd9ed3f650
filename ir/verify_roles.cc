// VerifyRoles: see verify_roles.h.
#include "ir/verify_roles.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "ir/status_macros.h"

namespace fleet {
namespace {

std::string Where(const Program& program, const Op& op) {
  std::string where = op.Describe();
  if (op.loc.file.empty() && !program.source.empty()) where = program.source + ": " + where;
  return where;
}

absl::Status CheckFact(const Program& program, const char* fact, const std::string& var) {
  if (var.empty() || program.main().FindVar(var) != nullptr) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat(program.source.empty() ? "" : program.source + ": ", "training fact ", fact,
                   " names '", var, "', which is not declared in block 0"));
}

}  // namespace

absl::Status VerifyRoles(const Program& program) {
  const bool training = program.meta.IsTraining();
  for (const Block& block : program.blocks) {
    for (const Op& op : block.ops) {
      if (training && HasNoRole(op)) {
        return absl::InvalidArgumentError(
            absl::StrCat(Where(program, op),
                         ": has no role in a training program (every op added after "
                         "autodiff must say what it does: forward, backward, optimize, ...)"));
      }
      for (const RoleVar& pair : op.role_vars) {
        for (const std::string* var : {&pair.param, &pair.grad}) {
          if (FindVisibleVar(program, block, *var) == nullptr) {
            return absl::InvalidArgumentError(
                absl::StrCat(Where(program, op), ": (parameter, gradient) pair ('", pair.param,
                             "', '", pair.grad, "') names '", *var, "', which is not declared"));
          }
        }
      }
    }
  }
  const TrainingFacts& t = program.meta.training;
  FLEET_RETURN_IF_ERROR(CheckFact(program, "loss", t.loss));
  FLEET_RETURN_IF_ERROR(CheckFact(program, "learning_rate", t.learning_rate));
  return CheckFact(program, "step", t.step);
}

}  // namespace fleet
