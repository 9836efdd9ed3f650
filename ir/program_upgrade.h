// Reading programs written by an older Fleet (text form v1, binary version 1).
//
// Version 1 had no "no role": role 0 meant forward, and the training passes left their facts
// as meta.extra["training.loss" | "training.learning_rate" | "training.step" |
// "training.optimizer"]. Version 2 gives forward a role of its own, so an op nobody gave a role
// is told apart from a forward op, and keeps the facts in ProgramMeta::training.
#pragma once

#include "ir/program.h"

namespace fleet {

// Gives a version-1 program version 2's meaning, in place:
//   - in a training program (one with a backward op), every op whose only v1 role was forward
//     (no bits, or just loss) gets kRoleForward; v1 wrote exactly these ops with role 0. In any
//     other program (imported models, inference, startup) role 0 stays "no role";
//   - the "training.*" extra keys move to ProgramMeta::training.
// The text parser and the binary reader call it for version-1 input; nothing else should.
void UpgradeFromVersion1(Program& program);

}  // namespace fleet
