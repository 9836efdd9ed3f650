// Portable f32 micro-kernel (4 x 16 tile in plain C++ the compiler may vectorise); see
// sgemm_kernel.h. Used when neither AVX-512 nor AVX2 + FMA is available.
#include "kernels/cpu/isa/sgemm_kernel.h"

#if FLEET_ISA_LEVEL != FLEET_ISA_LEVEL_PORTABLE
#error "compile this file only for the portable level (kernels/CMakeLists.txt)"
#endif

namespace fleet::cpu::FLEET_ISA_NS::sgemm {

void MicroKernel(int rows, int cols, int64_t kc, const float* a, const float* b, int64_t ldb,
                 float* c, int64_t ldc, float alpha, float beta) {
  float acc[kMr][kNr] = {};
  for (int64_t p = 0; p < kc; ++p) {
    const float* ap = a + p * kMr;
    const float* bp = b + p * ldb;
    if (cols == kNr) {
      for (int r = 0; r < kMr; ++r) {
        for (int j = 0; j < kNr; ++j) acc[r][j] += ap[r] * bp[j];
      }
    } else {
      for (int r = 0; r < kMr; ++r) {
        for (int j = 0; j < cols; ++j) acc[r][j] += ap[r] * bp[j];
      }
    }
  }
  for (int r = 0; r < rows; ++r) {
    float* cr = c + r * ldc;
    for (int j = 0; j < cols; ++j) {
      cr[j] = beta == 0.0f ? alpha * acc[r][j] : alpha * acc[r][j] + beta * cr[j];
    }
  }
}

}  // namespace fleet::cpu::FLEET_ISA_NS::sgemm

