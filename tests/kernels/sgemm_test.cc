// Tests for Fleet's Sgemm (kernels/cpu/sgemm.h) against a double-precision loop over the
// definition C = alpha * op(A) * op(B) + beta * C, over shapes around the micro-tile and cache
// block sizes, transposes, alpha/beta, prepacked operands and 1 or 2 threads; and for the
// weight caching of Gemm, MatMul and Conv through kernel state.
#include "kernels/cpu/sgemm.h"

#include <cmath>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "kernels/cpu/gemm.h"
#include "kernels/cpu/level_kernels.h"
#include "tests/kernels/kernel_test_util.h"

namespace fleet::cpu {
namespace {

// The panel sizes of the build under test: the active instruction-set level's (CTest runs this
// binary once per level the CPU supports, through FLEET_CPU_ISA).
const int kMr = ActiveLevelKernels().sgemm.mr;
const int kNr = ActiveLevelKernels().sgemm.nr;
constexpr int kKc = 256;  // isa/sgemm_blocked.cc's K block

std::vector<float> Random(int64_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = dist(rng);
  return v;
}

struct Case {
  int64_t m, n, k;
  bool trans_a = false, trans_b = false;
  float alpha = 1.0f, beta = 0.0f;
  bool pack_a = false, pack_b = false;
  int threads = 1;
  int64_t pad = 0;  // extra columns in every leading dimension

  std::string Name() const {
    return absl::StrCat("m=", m, " n=", n, " k=", k, " ta=", trans_a, " tb=", trans_b,
                        " alpha=", alpha, " beta=", beta, " pack_a=", pack_a, " pack_b=", pack_b,
                        " threads=", threads, " pad=", pad);
  }
};

// Runs one case and compares every element with the double reference, allowing the rounding
// error of a k-term f32 sum.
void Check(const Case& cs) {
  SCOPED_TRACE(cs.Name());
  const int64_t arows = cs.trans_a ? cs.k : cs.m, acols = cs.trans_a ? cs.m : cs.k;
  const int64_t brows = cs.trans_b ? cs.n : cs.k, bcols = cs.trans_b ? cs.k : cs.n;
  const int64_t lda = acols + cs.pad, ldb = bcols + cs.pad, ldc = cs.n + cs.pad;
  std::vector<float> a = Random(arows * lda, 1), b = Random(brows * ldb, 2);
  std::vector<float> c = Random(cs.m * ldc, 3);
  if (cs.beta == 0.0f) {  // beta 0 must not read C, even NaN
    for (float& x : c) x = std::numeric_limits<float>::quiet_NaN();
  }
  const std::vector<float> c0 = c;
  PackedSgemmMatrix pa, pb;
  SgemmOperand oa{a.data(), lda, cs.trans_a, nullptr}, ob{b.data(), ldb, cs.trans_b, nullptr};
  if (cs.pack_a) {
    pa = PackSgemmA(cs.trans_a, cs.m, cs.k, a.data(), lda);
    oa = SgemmOperand{nullptr, 0, false, &pa};
  }
  if (cs.pack_b) {
    pb = PackSgemmB(cs.trans_b, cs.k, cs.n, b.data(), ldb);
    ob = SgemmOperand{nullptr, 0, false, &pb};
  }
  std::unique_ptr<ThreadPool> pool;
  if (cs.threads > 1) pool = std::make_unique<ThreadPool>(cs.threads);
  Sgemm(cs.m, cs.n, cs.k, cs.alpha, oa, ob, cs.beta, c.data(), ldc, pool.get());

  int bad = 0;
  for (int64_t i = 0; i < cs.m; ++i) {
    for (int64_t j = 0; j < cs.n; ++j) {
      double sum = 0, mag = 0;
      for (int64_t p = 0; p < cs.k; ++p) {
        const double av = cs.trans_a ? a[p * lda + i] : a[i * lda + p];
        const double bv = cs.trans_b ? b[j * ldb + p] : b[p * ldb + j];
        sum += av * bv;
        mag += std::fabs(av * bv);
      }
      double want = cs.alpha * sum;
      mag *= std::fabs(cs.alpha);
      if (cs.beta != 0.0f) {
        want += cs.beta * static_cast<double>(c0[i * ldc + j]);
        mag += std::fabs(cs.beta * c0[i * ldc + j]);
      }
      const double tol = 4.0 * (cs.k + 2) * 6e-8 * mag + 1e-30;
      const float got = c[i * ldc + j];
      if (!(std::fabs(got - want) <= tol) && ++bad <= 5) {
        ADD_FAILURE() << "C[" << i << "," << j << "] = " << got << "; expected " << want
                      << " (tolerance " << tol << ")";
      }
    }
    // Padding columns of C are never written.
    for (int64_t j = cs.n; j < ldc; ++j) {
      const float before = c0[i * ldc + j], after = c[i * ldc + j];
      if (!(before == after || (std::isnan(before) && std::isnan(after))) && ++bad <= 5) {
        ADD_FAILURE() << "padding C[" << i << "," << j << "] was overwritten";
      }
    }
  }
  EXPECT_EQ(bad, 0);
}

TEST(SgemmTest, EdgeSizesAllTransposes) {
  const std::vector<int64_t> ms = {1, 2, kMr - 1, kMr, kMr + 1, 2 * kMr + 3, 150};
  const std::vector<int64_t> ns = {1, 4, 12, 13, kNr - 1, kNr, kNr + 1, 3 * kNr + 5};
  const std::vector<int64_t> ks = {1, 3, kKc - 1, kKc, kKc + 1};
  for (int64_t m : ms) {
    for (int64_t n : ns) {
      for (int64_t k : ks) {
        for (int t = 0; t < 4; ++t) {
          Case cs{m, n, k};
          cs.trans_a = t & 1;
          cs.trans_b = t & 2;
          Check(cs);
          if (::testing::Test::HasFailure()) return;
        }
      }
    }
  }
}

TEST(SgemmTest, AlphaBetaAndLeadingDims) {
  for (float alpha : {1.0f, -0.5f, 2.0f}) {
    for (float beta : {0.0f, 1.0f, 0.25f}) {
      for (int t = 0; t < 4; ++t) {
        Case cs{kMr + 3, 2 * kNr + 7, kKc + 9, bool(t & 1), bool(t & 2), alpha, beta};
        cs.pad = 5;
        Check(cs);
        cs.m = 1;  // the in-place B path
        Check(cs);
      }
    }
  }
}

TEST(SgemmTest, DegenerateSizes) {
  Check(Case{3, 4, 0, false, false, 1.0f, 0.0f});  // k == 0: C = 0
  Check(Case{3, 4, 0, false, false, 1.0f, 0.5f});  // k == 0: C = beta * C
  Check(Case{3, 4, 5, false, false, 0.0f, 0.5f});  // alpha == 0
  std::vector<float> c = {7.0f};
  Sgemm(0, 1, 1, 1.0f, SgemmOperand{}, SgemmOperand{}, 0.0f, c.data(), 1, nullptr);
  EXPECT_EQ(c[0], 7.0f);  // m == 0 touches nothing
}

TEST(SgemmTest, LargeK) {
  for (int t = 0; t < 4; ++t) {
    Check(Case{13, 53, 3 * kKc + 17, bool(t & 1), bool(t & 2), 1.0f, 1.0f});
    Check(Case{2, 200, 2000, bool(t & 1), bool(t & 2)});
  }
}

TEST(SgemmTest, Prepacked) {
  for (int t = 0; t < 4; ++t) {
    for (int p = 1; p < 4; ++p) {
      for (auto [m, n, k] : {std::tuple<int64_t, int64_t, int64_t>{1, 100, 300},
                             {kMr + 1, kNr + 1, kKc + 1},
                             {3, 2 * kNr, 2 * kKc},
                             {150, 400, 70}}) {
        Case cs{m, n, k, bool(t & 1), bool(t & 2), 1.5f, p == 3 ? 0.5f : 0.0f};
        cs.pack_a = p & 1;
        cs.pack_b = p & 2;
        cs.pad = 2;
        Check(cs);
      }
    }
  }
}

TEST(SgemmTest, TwoThreads) {
  for (int t = 0; t < 4; ++t) {
    for (int p = 0; p < 4; ++p) {
      // Wide (split along N), tall (split along M), and a single row.
      for (auto [m, n, k] : {std::tuple<int64_t, int64_t, int64_t>{37, 500, 300},
                             {400, 20, 300},
                             {2, 1000, 1200},
                             {160, 160, 600}}) {
        Case cs{m, n, k, bool(t & 1), bool(t & 2), 1.0f, p == 3 ? 1.0f : 0.0f};
        cs.pack_a = p & 1;
        cs.pack_b = p & 2;
        cs.threads = 2;
        Check(cs);
      }
    }
  }
}

TEST(SgemmTest, GemmRowMajorFloatUsesSgemm) {
  // [[1,2],[3,4]] x [[5,6],[7,8]] = [[19,22],[43,50]]
  const std::vector<float> a = {1, 2, 3, 4}, b = {5, 6, 7, 8};
  std::vector<float> c(4, -1.0f);
  ThreadPool pool(2);
  GemmRowMajor<float>(false, false, 2, 2, 2, 1.0, a.data(), 2, b.data(), 2, 0.0, c.data(), 2,
                      &pool);
  EXPECT_EQ(c, (std::vector<float>{19, 22, 43, 50}));
  GemmRowMajor<float>(true, true, 2, 2, 2, 1.0, a.data(), 2, b.data(), 2, 1.0, c.data(), 2);
  // A^T B^T = [[23,31],[34,46]], added to the previous C.
  EXPECT_EQ(c, (std::vector<float>{42, 53, 77, 96}));
}

TEST(SgemmDeathTest, PackedOperandOfOtherShapeAborts) {
  std::vector<float> w(12, 1.0f), x(12, 1.0f), c(16);
  const PackedSgemmMatrix pb = PackSgemmB(false, 3, 4, w.data(), 4);  // [3, 4]
  EXPECT_DEATH(Sgemm(4, 4, 4, 1.0f, SgemmOperand{x.data(), 4, true, nullptr},
                     SgemmOperand{nullptr, 0, false, &pb}, 0.0f, c.data(), 4, nullptr),
               "packed operand does not match");
  const PackedSgemmMatrix pa = PackSgemmA(false, 4, 3, w.data(), 3);  // an A, passed as B
  EXPECT_DEATH(Sgemm(3, 4, 3, 1.0f, SgemmOperand{x.data(), 3, false, nullptr},
                     SgemmOperand{nullptr, 0, false, &pa}, 0.0f, c.data(), 4, nullptr),
               "packed operand does not match");
}

}  // namespace
}  // namespace fleet::cpu
