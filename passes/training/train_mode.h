// The training forms of ops that behave differently when training; the autodiff pass applies
// them before it differentiates.
#pragma once

#include "absl/status/status.h"
#include "ir/program.h"
#include "passes/pass.h"

namespace fleet {

// Rewrites every BatchNormalization of the main block (inference or training_mode form) into
// fleet.batch_norm_train, which normalises with the batch statistics, updates the running
// mean and variance in place (its RunningMeanOut / RunningVarOut name the input vars, which
// must be persistable) and saves the batch mean and inverse std for the backward:
//
//   (Y: %y) = BatchNormalization(X: %x, scale: %s, B: %b, input_mean: %rm, input_var: %rv)
//   ==>
//   (Y: %y, RunningMeanOut: %rm, RunningVarOut: %rv, SavedMean: %y.saved_mean,
//    SavedInvStd: %y.saved_inv_std) = fleet.batch_norm_train(X: %x, Scale: %s, B: %b,
//                                                            RunningMean: %rm, RunningVar: %rv)
//
// A BatchNormalization that also outputs running_mean / running_var gets Identity ops copying
// the updated statistics into those vars. INVALID_ARGUMENT when a running statistic is not a
// persistable var.
absl::Status RewriteForTraining(Program& program, PassContext& ctx);

}  // namespace fleet
