// Packed constant GEMM operands (weights) cached in an op's kernel state, so Gemm, MatMul and
// Conv pack their weights once instead of on every run.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "executor/kernel.h"
#include "kernels/cpu/sgemm.h"

namespace fleet::cpu {

// The packed form of constant input `input` (one PackedSgemmMatrix per group, say), built by
// `pack` on first use and reused while the input keeps the same buffer, shape and `variant`
// (e.g. the transpose flag). Null when the input is not constant or the op keeps no state; the
// caller then packs per call (or not at all).
const std::vector<PackedSgemmMatrix>* CachedPackedWeights(
    KernelContext& ctx, int input, int64_t variant,
    const std::function<void(std::vector<PackedSgemmMatrix>*)>& pack);

}  // namespace fleet::cpu
