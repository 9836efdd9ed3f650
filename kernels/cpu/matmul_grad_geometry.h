// The geometry of MatMul's gradients (fleet.matmul_grad_a, fleet.matmul_grad_b), shared by the
// CPU and CUDA kernels so that both check the same shapes with the same words.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "executor/kernel.h"

namespace fleet::cpu {

// The promoted shapes (a 1-D A is [1, K], a 1-D B [K, 1]) and, per output batch entry, which
// matrix of A and of B it reads.
struct MatMulGeometry {
  int64_t m = 0, k = 0, n = 0;
  int64_t total = 1;                      // output batch entries
  int64_t a_count = 1, b_count = 1;       // matrices in A and in B
  std::vector<int64_t> a_index, b_index;  // per output batch entry
};

// From the op's inputs A, B and YGrad: INVALID_ARGUMENT, naming the inputs, when they do not
// multiply, their batch dims do not broadcast, YGrad is not MatMul's output shape, or the dims
// exceed the BLAS's 32-bit limit.
absl::Status ComputeMatMulGradGeometry(const KernelContext& ctx, MatMulGeometry* geo);

}  // namespace fleet::cpu
