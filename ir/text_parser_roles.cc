// Roles, (parameter, gradient) pairs and training facts in the program text form
// (see text_format.h):
//   ... role=backward vars=[(%w, %"w@GRAD")]
//   fleet.program v2 ... training={loss=%loss, learning_rate=%lr, step=%step,
//   optimizer="fleet.sgd"}
#include <set>

#include "absl/strings/str_cat.h"
#include "ir/status_macros.h"
#include "ir/text_parser.h"
#include "ir/text_syntax.h"

namespace fleet {
namespace text {

absl::StatusOr<std::string> TextParser::ParseVarRef(const std::string& context) {
  if (Peek().kind != TokenKind::kVar) return Expected("a var name '%name'", context);
  const Token t = Next();
  if (t.text.empty()) return Error(t, absl::StrCat("var name is empty ", context));
  if (!IsValidUtf8(t.text)) return Error(t, "var name is not valid UTF-8");
  return t.text;
}

absl::Status TextParser::ParseRole(Op& op) {
  op.role = kRoleNone;
  do {
    if (Peek().kind != TokenKind::kIdent) return Expected("a role name", "");
    const Token& t = Next();
    std::optional<uint32_t> bit = RoleBit(t.text);
    if (!bit) {
      return Error(t, absl::StrCat("unknown role '", t.text,
                                   "' (expected forward, backward, optimize, rpc, dist, "
                                   "lr_sched, collective or loss)"));
    }
    op.role |= *bit;
  } while (TryPunct('|'));
  return absl::OkStatus();
}

// `vars=[(%param, %grad), ...]`; the '=' is consumed by the caller.
absl::Status TextParser::ParseRoleVars(Op& op) {
  FLEET_RETURN_IF_ERROR(ExpectPunct('[', "to start the (parameter, gradient) pairs"));
  if (TryPunct(']')) return absl::OkStatus();
  do {
    FLEET_RETURN_IF_ERROR(ExpectPunct('(', "to start a (parameter, gradient) pair"));
    RoleVar pair;
    FLEET_ASSIGN_OR_RETURN(pair.param, ParseVarRef("as the parameter of a pair"));
    FLEET_RETURN_IF_ERROR(ExpectPunct(',', "after the parameter of a pair"));
    FLEET_ASSIGN_OR_RETURN(pair.grad, ParseVarRef("as the gradient of a pair"));
    FLEET_RETURN_IF_ERROR(ExpectPunct(')', "after the gradient of a pair"));
    op.role_vars.push_back(std::move(pair));
  } while (TryPunct(','));
  return ExpectPunct(']', "after the (parameter, gradient) pairs");
}

// `training={loss=%loss, ...}`; the '=' is consumed by the caller.
absl::Status TextParser::ParseTrainingFacts(TrainingFacts& facts) {
  FLEET_RETURN_IF_ERROR(ExpectPunct('{', "for header field 'training'"));
  if (TryPunct('}')) return absl::OkStatus();
  std::set<std::string> seen;
  do {
    if (Peek().kind != TokenKind::kIdent) return Expected("a training fact name", "");
    const Token key = Next();
    FLEET_RETURN_IF_ERROR(ExpectPunct('=', "after a training fact name"));
    if (!seen.insert(key.text).second) {
      return Error(key, absl::StrCat("training fact '", key.text, "' given twice"));
    }
    const std::string context = absl::StrCat("for training fact '", key.text, "'");
    if (key.text == "loss") {
      FLEET_ASSIGN_OR_RETURN(facts.loss, ParseVarRef(context));
    } else if (key.text == "learning_rate") {
      FLEET_ASSIGN_OR_RETURN(facts.learning_rate, ParseVarRef(context));
    } else if (key.text == "step") {
      FLEET_ASSIGN_OR_RETURN(facts.step, ParseVarRef(context));
    } else if (key.text == "optimizer") {
      FLEET_ASSIGN_OR_RETURN(facts.optimizer, ParseString(context));
    } else {
      return Error(key, absl::StrCat("unknown training fact '", key.text,
                                     "' (expected loss, learning_rate, step or optimizer)"));
    }
  } while (TryPunct(','));
  return ExpectPunct('}', "after the training facts");
}

}  // namespace text
}  // namespace fleet
