// Sgemm (kernels/cpu/sgemm.h): blocking, packing and threading around the micro-kernel of
// sgemm_kernel.h. Compiled once per instruction-set level (isa/level.h); each build is one
// SgemmVariant (level_kernels.h), its panel sizes those of its level's micro-kernel.
//
// Loop nest for one block of C (a thread's share), GotoBLAS order with the A micro-panel held in
// L1 while B micro-panels stream from L2:
//   for jc in N by kNc:  for pc in K by kKc:  [pack B kc x nc]
//     for ic in M by kMc:  [pack A mc x kc]
//       for ir in mc by kMr:  for jr in nc by kNr:  micro-kernel (kc deep)
// The first kc block applies beta, later ones accumulate (beta 1). Blocks at most kNarrowCols
// wide go to the M-vectorised narrow kernel instead of the jr loop.
#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>

#include "kernels/cpu/aligned_floats.h"
#include "kernels/cpu/isa/entry_points.h"
#include "kernels/cpu/isa/sgemm_kernel.h"
#include "kernels/cpu/isa/transpose8x8.h"

namespace fleet::cpu::FLEET_ISA_NS {
namespace {

using sgemm::kMr;
using sgemm::kNr;

constexpr int64_t kKc = 256;
constexpr int64_t kMc = 144;  // multiple of every kMr (4, 6, 8)
constexpr int64_t kNc = 384;  // multiple of every kNr (16, 48)
// Up to this many rows, a non-transposed B is read in place instead of packed: few row panels
// reuse each B block, so the packing copy costs more than the strided reads it saves (measured
// with the AVX-512 kernel; 144 rows is about even).
constexpr int64_t kDirectRows = 8 * kMr;
// Multiply-adds below which the product stays on the calling thread: waking the pool costs
// ~10 us, about the time of 1M multiply-adds.
constexpr int64_t kParallelMacs = 1 << 21;
// Largest operand (floats) packed whole before a threaded product; bigger ones are packed block
// by block in each thread.
constexpr int64_t kMaxSharedPack = 4 << 20;

int64_t CeilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

// A per-thread scratch area that only grows.
struct Scratch {
  float* data = nullptr;
  int64_t size = 0;
  ~Scratch() { std::free(data); }
  float* Get(int64_t n) {
    if (n > size) {
      std::free(data);
      data = AllocAlignedFloats(n);
      size = n;
    }
    return data;
  }
};

// Packs rows [i0, i0 + rows) x depth [p0, p0 + kc) of op(A) into one [kc][kMr] panel.
void PackAPanel(bool trans, const float* a, int64_t lda, int64_t i0, int rows, int64_t p0,
                int64_t kc, float* dst) {
  if (trans) {
    for (int64_t p = 0; p < kc; ++p) {
      const float* src = a + (p0 + p) * lda + i0;
      float* d = dst + p * kMr;
      if (rows == kMr) {
        std::memcpy(d, src, sizeof(float) * kMr);
      } else {
        for (int r = 0; r < rows; ++r) d[r] = src[r];
        for (int r = rows; r < kMr; ++r) d[r] = 0.0f;
      }
    }
    return;
  }
  const float* src = a + i0 * lda + p0;
  int64_t p = 0;
  if (kMr == 8 && rows == 8) {  // whole 8 x 8 blocks by register transposes
    for (; p + 8 <= kc; p += 8) Transpose8x8(src + p, lda, dst + p * kMr, kMr);
  }
  for (int r = 0; r < rows; ++r) {
    for (int64_t q = p; q < kc; ++q) dst[q * kMr + r] = src[r * lda + q];
  }
  for (int r = rows; r < kMr; ++r) {
    for (int64_t q = p; q < kc; ++q) dst[q * kMr + r] = 0.0f;
  }
}

// Packs depth [p0, p0 + kc) x cols [j0, j0 + cols) of op(B) into one [kc][kNr] panel.
void PackBPanel(bool trans, const float* b, int64_t ldb, int64_t p0, int64_t kc, int64_t j0,
                int cols, float* dst) {
  if (!trans) {
    for (int64_t p = 0; p < kc; ++p) {
      const float* src = b + (p0 + p) * ldb + j0;
      float* d = dst + p * kNr;
      if (cols == kNr) {
        std::memcpy(d, src, sizeof(float) * kNr);  // fixed size: inlined vector moves
      } else {
        for (int j = 0; j < cols; ++j) d[j] = src[j];
        for (int j = cols; j < kNr; ++j) d[j] = 0.0f;
      }
    }
    return;
  }
  // op(B)[p][j] = B[j][p]: whole 8 x 8 blocks by register transposes, then the rest.
  const float* src = b + j0 * ldb + p0;
  const int cols8 = cols / 8 * 8;
  const int64_t kc8 = kc / 8 * 8;
  for (int j = 0; j < cols8; j += 8) {
    for (int64_t p = 0; p < kc8; p += 8) {
      Transpose8x8(src + j * ldb + p, ldb, dst + p * kNr + j, kNr);
    }
    for (int jj = j; jj < j + 8; ++jj) {
      for (int64_t p = kc8; p < kc; ++p) dst[p * kNr + jj] = src[jj * ldb + p];
    }
  }
  for (int j = cols8; j < cols; ++j) {
    for (int64_t p = 0; p < kc; ++p) dst[p * kNr + j] = src[j * ldb + p];
  }
  for (int64_t p = 0; p < kc; ++p) {
    for (int j = cols; j < kNr; ++j) dst[p * kNr + j] = 0.0f;
  }
}

// Packs all of op(A) [m, k] in PackedSgemmMatrix's layout into `out`.
void PackWholeA(bool trans, int64_t m, int64_t k, const float* a, int64_t lda, float* out) {
  const int64_t panels = CeilDiv(m, kMr);
  for (int64_t pc = 0; pc < k; pc += kKc) {
    const int64_t kc = std::min(kKc, k - pc);
    float* base = out + pc * panels * kMr;
    for (int64_t i = 0; i < panels; ++i) {
      PackAPanel(trans, a, lda, i * kMr, static_cast<int>(std::min<int64_t>(kMr, m - i * kMr)), pc,
                 kc, base + i * kc * kMr);
    }
  }
}

// Packs all of op(B) [k, n] in PackedSgemmMatrix's layout into `out`.
void PackWholeB(bool trans, int64_t k, int64_t n, const float* b, int64_t ldb, float* out) {
  const int64_t panels = CeilDiv(n, kNr);
  for (int64_t pc = 0; pc < k; pc += kKc) {
    const int64_t kc = std::min(kKc, k - pc);
    float* base = out + pc * panels * kNr;
    for (int64_t j = 0; j < panels; ++j) {
      PackBPanel(trans, b, ldb, pc, kc, j * kNr,
                 static_cast<int>(std::min<int64_t>(kNr, n - j * kNr)), base + j * kc * kNr);
    }
  }
}

struct Problem {
  int64_t m, n, k;
  float alpha, beta;
  SgemmOperand a, b;
  const float* a_packed;  // all of op(A) packed, or null
  const float* b_packed;  // all of op(B) packed, or null
  bool b_in_place;        // read a non-transposed B in place however many rows a block has
  float* c;
  int64_t ldc;
};

// Computes C[m0:m1, n0:n1] on the calling thread. Offsets into a packed operand must be
// multiples of its panel size.
void RunBlock(const Problem& pr, int64_t m0, int64_t m1, int64_t n0, int64_t n1) {
  thread_local Scratch a_scratch, b_scratch;
  const SgemmOperand& a = pr.a;
  const SgemmOperand& b = pr.b;
  const int64_t a_panels = CeilDiv(pr.m, kMr), b_panels = CeilDiv(pr.n, kNr);
  const bool direct_b =
      pr.b_packed == nullptr && !b.trans && (pr.b_in_place || m1 - m0 <= kDirectRows);
  float* abuf = pr.a_packed != nullptr
                    ? nullptr
                    : a_scratch.Get(std::min(kMc, CeilDiv(m1 - m0, kMr) * kMr) * kKc);
  float* bbuf = pr.b_packed != nullptr || direct_b ? nullptr : b_scratch.Get(kNc * kKc);
  for (int64_t jc = n0; jc < n1; jc += kNc) {
    const int64_t nc = std::min(kNc, n1 - jc);
    for (int64_t pc = 0; pc < pr.k; pc += kKc) {
      const int64_t kc = std::min(kKc, pr.k - pc);
      const float beta = pc == 0 ? pr.beta : 1.0f;
      const float* bblk;
      int64_t bld, bstep;  // B row stride and distance between kNr-column panels
      if (pr.b_packed != nullptr) {
        bblk = pr.b_packed + pc * b_panels * kNr + (jc / kNr) * kc * kNr;
        bld = kNr;
        bstep = kc * kNr;
      } else if (direct_b) {
        bblk = b.data + pc * b.ld + jc;
        bld = b.ld;
        bstep = kNr;
      } else {
        for (int64_t jr = 0; jr < nc; jr += kNr) {
          PackBPanel(b.trans, b.data, b.ld, pc, kc, jc + jr,
                     static_cast<int>(std::min<int64_t>(kNr, nc - jr)), bbuf + jr * kc);
        }
        bblk = bbuf;
        bld = kNr;
        bstep = kc * kNr;
      }
      for (int64_t ic = m0; ic < m1; ic += kMc) {
        const int64_t mc = std::min(kMc, m1 - ic);
        const float* ablk;
        if (pr.a_packed != nullptr) {
          ablk = pr.a_packed + pc * a_panels * kMr + (ic / kMr) * kc * kMr;
        } else {
          for (int64_t ir = 0; ir < mc; ir += kMr) {
            PackAPanel(a.trans, a.data, a.ld, ic + ir,
                       static_cast<int>(std::min<int64_t>(kMr, mc - ir)), pc, kc, abuf + ir * kc);
          }
          ablk = abuf;
        }
        if (nc <= sgemm::kNarrowCols) {
          for (int64_t ir = 0; ir < mc; ir += sgemm::kNarrowRows) {
            sgemm::NarrowKernel(static_cast<int>(std::min<int64_t>(sgemm::kNarrowRows, mc - ir)),
                                static_cast<int>(nc), kc, ablk + ir * kc, kc * kMr, bblk, bld,
                                pr.c + (ic + ir) * pr.ldc + jc, pr.ldc, pr.alpha, beta);
          }
          continue;
        }
        for (int64_t ir = 0; ir < mc; ir += kMr) {
          const int rows = static_cast<int>(std::min<int64_t>(kMr, mc - ir));
          const float* ap = ablk + ir * kc;
          float* crow = pr.c + (ic + ir) * pr.ldc + jc;
          for (int64_t jr = 0; jr < nc; jr += kNr) {
            const int cols = static_cast<int>(std::min<int64_t>(kNr, nc - jr));
            sgemm::MicroKernel(rows, cols, kc, ap, bblk + (jr / kNr) * bstep, bld, crow + jr,
                               pr.ldc, pr.alpha, beta);
          }
        }
      }
    }
  }
}

// C = beta * C for the empty product (k == 0 or alpha == 0); beta == 0 writes zeros.
void ScaleC(int64_t m, int64_t n, float beta, float* c, int64_t ldc) {
  for (int64_t i = 0; i < m; ++i) {
    float* row = c + i * ldc;
    if (beta == 0.0f) {
      std::memset(row, 0, sizeof(float) * n);
    } else if (beta != 1.0f) {
      for (int64_t j = 0; j < n; ++j) row[j] *= beta;
    }
  }
}

}  // namespace

void SgemmPackA(bool trans, int64_t m, int64_t k, const float* a, int64_t lda, float* out) {
  PackWholeA(trans, m, k, a, lda, out);
}

void SgemmPackB(bool trans, int64_t k, int64_t n, const float* b, int64_t ldb, float* out) {
  PackWholeB(trans, k, n, b, ldb, out);
}

void SgemmRun(int64_t m, int64_t n, int64_t k, float alpha, const SgemmOperand& a,
              const float* a_packed, const SgemmOperand& b, const float* b_packed, float beta,
              float* c, int64_t ldc, ThreadPool* pool) {
  if (m <= 0 || n <= 0) return;
  if (k <= 0 || alpha == 0.0f) return ScaleC(m, n, beta, c, ldc);
  Problem pr{m,
             n,
             k,
             alpha,
             beta,
             a,
             b,
             a_packed,
             b_packed,
             false,
             c,
             ldc};
  const int threads = pool != nullptr ? pool->num_threads() : 1;
  const int64_t a_panels = CeilDiv(m, kMr), b_panels = CeilDiv(n, kNr);
  if (threads <= 1 || m * n * k < kParallelMacs || std::max(a_panels, b_panels) < 2) {
    RunBlock(pr, 0, m, 0, n);
    return;
  }
  // Blocks of C, a few per thread, handed out first come first served: a thread that starts
  // late (the machine is shared) takes fewer. Cutting along N, every block reads all of op(A);
  // along M, all of op(B). Cut so that each block reads only a slice of the larger operand,
  // unless that dimension has too few panels to balance. The shared operand, if not packed already,
  // is packed once up front (a non-transposed B is read in place instead).
  const int64_t balanced = 2 * static_cast<int64_t>(threads);
  bool split_n = n >= m;
  if (split_n && b_panels < balanced && a_panels > b_panels) split_n = false;
  if (!split_n && a_panels < balanced && b_panels > a_panels) split_n = true;
  thread_local Scratch shared;
  if (split_n && pr.a_packed == nullptr && a_panels * kMr * k <= kMaxSharedPack) {
    float* buf = shared.Get(a_panels * kMr * k);
    PackWholeA(a.trans, m, k, a.data, a.ld, buf);
    pr.a_packed = buf;
  } else if (!split_n && pr.b_packed == nullptr) {
    if (!b.trans) {
      pr.b_in_place = true;
    } else if (b_panels * kNr * k <= kMaxSharedPack) {
      float* buf = shared.Get(b_panels * kNr * k);
      PackWholeB(b.trans, k, n, b.data, b.ld, buf);
      pr.b_packed = buf;
    }
  }
  const int64_t panels = split_n ? b_panels : a_panels;
  const int64_t tasks = std::min<int64_t>(3 * threads, panels);
  std::atomic<int64_t> next{0};
  pool->ParallelFor(threads, 1, [&](int64_t, int64_t) {
    for (int64_t t; (t = next.fetch_add(1, std::memory_order_relaxed)) < tasks;) {
      const int64_t lo = panels * t / tasks, hi = panels * (t + 1) / tasks;
      if (split_n) {
        RunBlock(pr, 0, m, lo * kNr, std::min(n, hi * kNr));
      } else {
        RunBlock(pr, lo * kMr, std::min(m, hi * kMr), 0, n);
      }
    }
  });
}

}  // namespace fleet::cpu::FLEET_ISA_NS
