// The startup program: what a training job runs once, before its first step, to give the
// optimizer's state its initial values.
//
//   FLEET_ASSIGN_OR_RETURN(Program startup, BuildStartupProgram(main));
//   // run `startup` once, then `main` every step, both on one Scope
//
// The `startup` pass (passes/passes.def, the last pass of the strategies' pipelines) adds it to
// the job: for the main program and every server program P it (re)builds P's startup program,
// StartupProgramNameOf(P) ("startup", "pserver.0.startup"; ir/job.h), even when empty.
//
// Parameters keep their initial values in main's Program::values; the startup program fills
// the state the optimizer pass declared (passes/training/optimizer.cc), with one
// fleet.fill_constant per var:
//   <param>@velocity, @moment1, @moment2   0
//   <param>@beta1_pow, @beta2_pow          the update op's beta1, beta2 (Adam's beta^1)
//   <param>@moment (adagrad)               the op's initial_accumulator_value
//   learning_rate                          the schedule's base_lr
//   global_step                            0 (i64)
//   amp@loss_scale                         the update_loss_scaling op's init_scale
//   amp@good_steps, amp@skipped_steps      0 (i64)
#pragma once

#include "absl/status/statusor.h"
#include "ir/program.h"

namespace fleet {

// Builds the startup program of `main` (meta.role "startup"; opset, producer and strategy
// copied from main): its block 0 declares every state var read by an optimizer update,
// fleet.lr_schedule, fleet.increment or fleet.update_loss_scaling op of `main` (any block)
// that has no initial value in main's Program::values, persistable with main's dtype and
// shape, and fills it. A program
// without such ops gives an empty startup program. INVALID_ARGUMENT when a state var has no
// static shape or two ops want different initial values for it.
absl::StatusOr<Program> BuildStartupProgram(const Program& main);

}  // namespace fleet
