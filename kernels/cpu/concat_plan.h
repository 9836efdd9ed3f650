// The checks and geometry of Concat and fleet.concat_grad, shared by the CPU and CUDA kernels
// so that both refuse the same inputs with the same words. Around the axis every tensor is a
// matrix of `outer` rows; a piece is a band of columns.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "executor/kernel.h"

namespace fleet::cpu {

struct ConcatPlan {
  std::vector<int64_t> out_shape;
  int64_t outer = 1;  // product of the dims before the axis
};

// Concat(inputs...) {axis}: INVALID_ARGUMENT naming the input that does not fit.
absl::StatusOr<ConcatPlan> PlanConcat(const KernelContext& ctx);

struct ConcatGradPlan {
  int64_t outer = 1;
  int64_t x_row = 0;            // elements of one row of the gradient X
  std::vector<int64_t> offset;  // input i's band is [offset[i], offset[i + 1]) of a row
  std::vector<int64_t> select;  // the inputs whose gradients are the outputs, in order
};

// fleet.concat_grad(X, Inputs...) {axis, select}: INVALID_ARGUMENT naming what does not fit.
absl::StatusOr<ConcatGradPlan> PlanConcatGrad(const KernelContext& ctx);

}  // namespace fleet::cpu
