// GemmRowMajor: Fleet's Sgemm for f32, OpenBLAS for f64, a cache-friendly loop for integers.
#include "kernels/cpu/gemm.h"

#include <cblas.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <type_traits>
#include <vector>

#include "kernels/cpu/sgemm.h"

namespace fleet::cpu {
namespace {

// Scales C by beta; beta == 0 overwrites (C may hold garbage or NaN).
template <typename T>
void ScaleC(int64_t m, int64_t n, double beta, T* c, int64_t ldc) {
  for (int64_t i = 0; i < m; ++i) {
    T* row = c + i * ldc;
    if (beta == 0) {
      std::memset(row, 0, sizeof(T) * n);
    } else if (beta != 1) {
      for (int64_t j = 0; j < n; ++j) row[j] = static_cast<T>(beta * row[j]);
    }
  }
}

template <typename T>
void IntGemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, double alpha, const T* a,
             int64_t lda, const T* b, int64_t ldb, double beta, T* c, int64_t ldc) {
  // Accumulate A*B exactly in T, then apply alpha/beta (in double, like NumPy
  // would for a float alpha) only when they are not the identity.
  std::vector<T> acc(static_cast<size_t>(n));
  std::vector<T> bcol;
  for (int64_t i = 0; i < m; ++i) {
    std::fill(acc.begin(), acc.end(), T{0});
    for (int64_t p = 0; p < k; ++p) {
      T av = trans_a ? a[p * lda + i] : a[i * lda + p];
      if (av == 0) continue;
      if (!trans_b) {
        const T* brow = b + p * ldb;
        for (int64_t j = 0; j < n; ++j) acc[j] += av * brow[j];
      } else {
        for (int64_t j = 0; j < n; ++j) acc[j] += av * b[j * ldb + p];
      }
    }
    T* crow = c + i * ldc;
    if (alpha == 1 && beta == 0) {
      for (int64_t j = 0; j < n; ++j) crow[j] = acc[j];
    } else if (alpha == 1 && beta == 1) {
      for (int64_t j = 0; j < n; ++j) crow[j] += acc[j];
    } else {
      for (int64_t j = 0; j < n; ++j) {
        double prev = beta == 0 ? 0.0 : beta * static_cast<double>(crow[j]);
        crow[j] = static_cast<T>(alpha * static_cast<double>(acc[j]) + prev);
      }
    }
  }
}

}  // namespace

bool GemmDimsFit(int64_t m, int64_t n, int64_t k) {
  return m < INT_MAX && n < INT_MAX && k < INT_MAX;
}

template <typename T>
void GemmRowMajor(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, double alpha,
                  const T* a, int64_t lda, const T* b, int64_t ldb, double beta, T* c, int64_t ldc,
                  ThreadPool* pool) {
  if (m <= 0 || n <= 0) return;
  if constexpr (std::is_same_v<T, float>) {
    SgemmOperand sa{a, lda, trans_a, nullptr}, sb{b, ldb, trans_b, nullptr};
    Sgemm(m, n, k, static_cast<float>(alpha), sa, sb, static_cast<float>(beta), c, ldc, pool);
  } else if constexpr (std::is_floating_point_v<T>) {
    (void)pool;  // OpenBLAS runs its own threads
    if (k <= 0 || alpha == 0) return ScaleC(m, n, beta, c, ldc);
    if (beta == 0) ScaleC(m, n, 0.0, c, ldc);  // BLAS may read C even when beta is 0
    const CBLAS_TRANSPOSE ta = trans_a ? CblasTrans : CblasNoTrans;
    const CBLAS_TRANSPOSE tb = trans_b ? CblasTrans : CblasNoTrans;
    const int im = static_cast<int>(m), in = static_cast<int>(n), ik = static_cast<int>(k);
    cblas_dgemm(CblasRowMajor, ta, tb, im, in, ik, alpha, a, static_cast<int>(lda), b,
                static_cast<int>(ldb), beta, c, static_cast<int>(ldc));
  } else {
    (void)pool;
    IntGemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  }
}

#define FLEET_INSTANTIATE_GEMM(T)                                                                 \
  template void GemmRowMajor<T>(bool, bool, int64_t, int64_t, int64_t, double, const T*, int64_t, \
                                const T*, int64_t, double, T*, int64_t, ThreadPool*);
FLEET_INSTANTIATE_GEMM(float)
FLEET_INSTANTIATE_GEMM(double)
FLEET_INSTANTIATE_GEMM(int32_t)
FLEET_INSTANTIATE_GEMM(int64_t)
#undef FLEET_INSTANTIATE_GEMM

}  // namespace fleet::cpu
