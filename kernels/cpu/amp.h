// The loss-scaling kernels of mixed-precision training (ir/fleet_amp_ops.cc), shared with the
// CUDA kernels for their traits.
#pragma once

#include <cstdint>

#include "absl/status/statusor.h"
#include "executor/kernel.h"

namespace fleet::cpu {

// fleet.update_loss_scaling's attributes.
struct LossScalingRule {
  int64_t incr_every_n_steps = 2000;
  float incr_ratio = 2.0f;
  float decr_ratio = 0.5f;

  // One step: after a finite step good_steps counts up, and on reaching incr_every_n_steps the
  // scale grows by incr_ratio and the count restarts; after an inf or NaN the scale shrinks by
  // decr_ratio, the count restarts and skipped_steps counts up.
  void Step(bool all_finite, float* scale, int64_t* good_steps, int64_t* skipped_steps) const {
    if (!all_finite) {
      *scale *= decr_ratio;
      *good_steps = 0;
      ++*skipped_steps;
    } else if (++*good_steps >= incr_every_n_steps) {
      *scale *= incr_ratio;
      *good_steps = 0;
    }
  }
};

// The checks both devices make before they change anything, INVALID_ARGUMENT naming the input:
// fleet.check_finite_and_unscale has inputs X..., Scale and outputs Out... (one per X),
// AllFinite, every X present with X[0]'s dtype and Scale one f32 (its value is the kernel's to
// check, where it can read it)...
absl::Status CheckUnscaleOperands(const KernelContext& ctx);
// ... and fleet.update_loss_scaling has four inputs and three outputs, AllFinite one bool, Scale
// one f32 and the two counts one i64 each.
absl::Status CheckLossScalingOperands(const KernelContext& ctx);

// The op's rule, INVALID_ARGUMENT naming the attribute when incr_every_n_steps < 1, incr_ratio
// is not a finite value >= 1 or decr_ratio is outside (0, 1].
absl::StatusOr<LossScalingRule> LossScalingRuleOf(const KernelContext& ctx);

// fleet.check_finite_and_unscale writes every Out[i] into X[i]'s buffer.
KernelTraits CheckFiniteAndUnscaleTraits();

// fleet.update_loss_scaling writes each output into its input (ScaleOut into Scale, ...).
KernelTraits UpdateLossScalingTraits();

// Adds fleet.check_finite_and_unscale (f32, f64; key X[0]) and fleet.update_loss_scaling (key
// Scale, f32) under Device::kCpu, with the traits above.
void RegisterAmpKernels(KernelTable& table);

}  // namespace fleet::cpu
