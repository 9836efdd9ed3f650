// Fleet's own f32 GEMM, BLIS/GotoBLAS style:
//   C[m, n] = alpha * op(A)[m, k] * op(B)[k, n] + beta * C      (row-major, op = transpose or not)
// K is cut into kc-deep blocks and N into nc-wide blocks; op(A) is packed into kMr-row panels and
// op(B) into kNr-column panels (zero padded), and a register-blocked micro-kernel
// (sgemm_kernel.h) computes each kMr x kNr tile of C. Transposes are absorbed by the packing.
//
// The micro-kernel, and with it the packed layout, is the active instruction-set level's
// (kernels/cpu/cpu_isa.h): kernels/cpu/isa/ holds one build per level.
//
// A constant operand (weights) can be packed once with PackSgemmA / PackSgemmB and passed as
// `packed` on every call; packing is then skipped. With few rows (batch-1 inference) B is read
// in place when it is not transposed, so the weights are streamed once per call. With a thread
// pool of more than one thread, large products are split into one block of C per thread.
// beta == 0 never reads C. Leading dimensions are in elements.
#pragma once

#include <cstdint>
#include <memory>

#include "executor/thread_pool.h"

namespace fleet::cpu {

// op(A) or op(B) in the packed layout of Sgemm. For A ([rows = m, depth = k]): per kc block of
// K, the kMr-row panels one after another, each [kc][kMr]. For B ([depth = k, cols = n]): per kc
// block, the kNr-column panels, each [kc][kNr].
struct SgemmVariant;

class PackedSgemmMatrix {
 public:
  PackedSgemmMatrix() = default;
  bool is_a() const { return is_a_; }
  int64_t depth() const { return depth_; }  // k
  int64_t width() const { return width_; }  // m for A, n for B
  const float* data() const { return data_.get(); }
  // The SGEMM build (instruction-set level) whose layout it holds.
  const SgemmVariant* variant() const { return variant_; }
  // Bytes held, for memory accounting.
  int64_t bytes() const { return size_ * static_cast<int64_t>(sizeof(float)); }

 private:
  friend PackedSgemmMatrix PackSgemmA(bool, int64_t, int64_t, const float*, int64_t);
  friend PackedSgemmMatrix PackSgemmB(bool, int64_t, int64_t, const float*, int64_t);
  struct Free {
    void operator()(float* p) const;
  };
  const SgemmVariant* variant_ = nullptr;  // whose layout `data_` holds
  bool is_a_ = false;
  int64_t depth_ = 0, width_ = 0, size_ = 0;
  std::unique_ptr<float, Free> data_;
};

// Packs op(A) ([m, k]; A is [k, m] when trans) as Sgemm's left operand.
PackedSgemmMatrix PackSgemmA(bool trans, int64_t m, int64_t k, const float* a, int64_t lda);
// Packs op(B) ([k, n]; B is [n, k] when trans) as Sgemm's right operand.
PackedSgemmMatrix PackSgemmB(bool trans, int64_t k, int64_t n, const float* b, int64_t ldb);

// One operand of Sgemm: a row-major matrix (transposed when `trans`), or a packed one (then
// data/ld/trans are ignored; its side, width and depth must match the call's, and it must have
// been packed in this process, else Sgemm aborts).
struct SgemmOperand {
  const float* data = nullptr;
  int64_t ld = 0;
  bool trans = false;
  const PackedSgemmMatrix* packed = nullptr;
};

// C = alpha * op(A) * op(B) + beta * C. `pool` may be null (single-threaded). Must not be called
// from inside a ParallelFor of the same pool (pass null there).
void Sgemm(int64_t m, int64_t n, int64_t k, float alpha, const SgemmOperand& a,
           const SgemmOperand& b, float beta, float* c, int64_t ldc, ThreadPool* pool);

// The micro-kernel in use (e.g. "avx512 8x48"): the one of the active instruction-set level
// (kernels/cpu/cpu_isa.h), picked at run time.
const char* SgemmKernelName();

}  // namespace fleet::cpu
