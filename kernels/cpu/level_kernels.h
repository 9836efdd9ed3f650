// The kernels built once per instruction-set level (kernels/cpu/isa/, cpu_isa.h), one table of
// entry points per level. The rest of kernels/cpu is compiled for the baseline and calls these
// through ActiveLevelKernels(), the table of the level chosen at run time. Internal to
// kernels/cpu; add an entry here when a loop needs wider vectors than the baseline has (measure
// first: most loops are memory bound).
#pragma once

#include <cstdint>

#include "kernels/cpu/cpu_isa.h"
#include "kernels/cpu/sgemm.h"

namespace fleet::cpu {

// One build of the blocked SGEMM (isa/sgemm_blocked.cc).
struct SgemmVariant {
  const char* kernel_name;  // the micro-kernel, e.g. "avx512 8x48"
  int mr;                   // rows of a packed A panel
  int nr;                   // columns of a packed B panel
  // Packs op(A) [m, k] / op(B) [k, n] into `out` (ceil(m / mr) * mr * k, resp.
  // ceil(n / nr) * nr * k floats).
  void (*pack_a)(bool trans, int64_t m, int64_t k, const float* a, int64_t lda, float* out);
  void (*pack_b)(bool trans, int64_t k, int64_t n, const float* b, int64_t ldb, float* out);
  // Sgemm (sgemm.h) with each operand either as given or already packed (`*_packed` non-null,
  // in this variant's layout).
  void (*sgemm)(int64_t m, int64_t n, int64_t k, float alpha, const SgemmOperand& a,
                const float* a_packed, const SgemmOperand& b, const float* b_packed, float beta,
                float* c, int64_t ldc, ThreadPool* pool);
};

struct LevelKernels {
  CpuIsa isa;
  SgemmVariant sgemm;
  // `rows` rows of im2col (isa/im2col_rows.cc): row r copies n floats, every `stride`-th from
  // src + r * src_step, to dst + r * n.
  void (*copy_rows_f32)(const float* src, int64_t src_step, int64_t stride, float* dst, int64_t n,
                        int64_t rows);
  // One tile of a transpose of 4-byte elements (isa/transpose_tile.cc):
  // dst[r * ld_dst + c] = src[r + c * ld_src] for r < rows, c < cols.
  void (*transpose_tile_b32)(const uint32_t* src, int64_t ld_src, uint32_t* dst, int64_t ld_dst,
                             int64_t rows, int64_t cols);
};

namespace portable {
extern const LevelKernels kLevelKernels;
}  // namespace portable
#if defined(FLEET_HAVE_X86_ISA_LEVELS)
namespace avx2 {
extern const LevelKernels kLevelKernels;
}  // namespace avx2
namespace avx512 {
extern const LevelKernels kLevelKernels;
}  // namespace avx512
#endif

// The table built for `isa` (the caller checks CpuIsaSupported before running its kernels).
const LevelKernels& LevelKernelsFor(CpuIsa isa);
// The table of ActiveCpuIsa(), looked up once.
const LevelKernels& ActiveLevelKernels();

}  // namespace fleet::cpu
