// The functions each level's build of kernels/cpu/isa/ defines (in namespace
// fleet::cpu::FLEET_ISA_NS) and isa/level_table.cc gathers into that level's LevelKernels
// (level_kernels.h, which documents each).
#pragma once

#include <cstdint>

#include "kernels/cpu/isa/level.h"
#include "kernels/cpu/sgemm.h"

namespace fleet::cpu::FLEET_ISA_NS {

// isa/sgemm_blocked.cc
void SgemmPackA(bool trans, int64_t m, int64_t k, const float* a, int64_t lda, float* out);
void SgemmPackB(bool trans, int64_t k, int64_t n, const float* b, int64_t ldb, float* out);
void SgemmRun(int64_t m, int64_t n, int64_t k, float alpha, const SgemmOperand& a,
              const float* a_packed, const SgemmOperand& b, const float* b_packed, float beta,
              float* c, int64_t ldc, ThreadPool* pool);

// isa/im2col_rows.cc
void CopyRowsF32(const float* src, int64_t src_step, int64_t stride, float* dst, int64_t n,
                 int64_t rows);

// isa/transpose_tile.cc
void TransposeTileB32(const uint32_t* src, int64_t ld_src, uint32_t* dst, int64_t ld_dst,
                      int64_t rows, int64_t cols);

}  // namespace fleet::cpu::FLEET_ISA_NS
