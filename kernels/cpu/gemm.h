// Row-major GEMM over the element types Fleet's matrix kernels support, for use
// by MatMul, Gemm, Einsum, Conv and ConvTranspose: C = alpha * op(A) * op(B) +
// beta * C.
//
// f32 goes to Fleet's own Sgemm (sgemm.h), threaded over `pool` when it is given (null: the
// calling thread only; pass null from inside a ParallelFor). f64 goes to OpenBLAS (which threads
// the call itself; see SetCpuMathThreads); i32 and i64 use a plain loop. Degenerate sizes are
// handled here: with k == 0 the product is zero, so C is only scaled by beta
// (beta == 0 writes zeros, never reads C). Leading dimensions are in elements.
// Dimensions must fit in an int (callers check with GemmDimsFit).
#pragma once

#include <cstdint>

#include "executor/thread_pool.h"

namespace fleet::cpu {

template <typename T>
void GemmRowMajor(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, double alpha,
                  const T* a, int64_t lda, const T* b, int64_t ldb, double beta, T* c, int64_t ldc,
                  ThreadPool* pool = nullptr);

// True when every GEMM dimension fits the 32-bit ints that OpenBLAS takes.
bool GemmDimsFit(int64_t m, int64_t n, int64_t k);

}  // namespace fleet::cpu
