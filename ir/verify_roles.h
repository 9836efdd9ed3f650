// The verifier's checks of roles and (parameter, gradient) pairs (part of Verify, ir/verify.h).
// Internal to ir/.
#pragma once

#include "absl/status/status.h"
#include "ir/program.h"

namespace fleet {

// In a training program (ProgramMeta::IsTraining: autodiff or the optimizer pass has run) every
// op of every block has a role: an op without one is a pass that forgot to set it, and is
// rejected naming the op, rather than guessed (Paddle's FillNotSpecifiedOpRole). In any
// program, every (parameter, gradient) pair an op records names vars declared in its block or
// an ancestor, and the training facts name vars of block 0.
absl::Status VerifyRoles(const Program& program);

}  // namespace fleet
