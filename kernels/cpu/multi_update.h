// fleet.multi_update's kernels share these: how many parameters and states the op holds
// (ir/multi_update.h gives the layout), and the CPU kernel of each single update.
#pragma once

#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "executor/kernel.h"
#include "ir/multi_update.h"

namespace fleet::cpu {

struct MultiUpdateShape {
  const UpdateLayout* layout = nullptr;  // of the `update` attribute
  int params = 0;                        // n
  int states = 0;                        // s, per parameter
};

// From the op's `update` attribute and its input and output counts; INVALID_ARGUMENT naming
// what does not fit.
absl::StatusOr<MultiUpdateShape> MultiUpdateShapeOf(const KernelContext& ctx);

// Parameter i's operands in its single update op's input order (Param, Grad, LearningRate and
// the state where that op takes them).
std::vector<const Tensor*> SingleUpdateInputs(const KernelContext& ctx,
                                              const MultiUpdateShape& shape, int i);

// Every device's fleet.multi_update: input j and output j are one buffer.
KernelTraits MultiUpdateTraits();

// The CPU kernel of the single update op `type` for `dtype` (f32, f64), or null.
KernelFn SingleUpdateKernel(std::string_view type, DataType dtype);

}  // namespace fleet::cpu
