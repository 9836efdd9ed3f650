// Sgemm's public entry points (sgemm.h): each goes to the build of the blocked SGEMM for the
// active instruction-set level (level_kernels.h).
#include "kernels/cpu/sgemm.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "kernels/cpu/aligned_floats.h"
#include "kernels/cpu/level_kernels.h"

namespace fleet::cpu {
namespace {

const SgemmVariant& Active() { return ActiveLevelKernels().sgemm; }

int64_t CeilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

// A packed operand of other dimensions (or another layout) would be read out of bounds: a
// caller's bug.
void CheckPacked(const PackedSgemmMatrix* packed, bool is_a, int64_t width, int64_t depth,
                 const SgemmVariant& variant) {
  if (packed == nullptr) return;
  if (packed->is_a() == is_a && packed->width() == width && packed->depth() == depth &&
      packed->variant() == &variant) {
    return;
  }
  std::fprintf(stderr,
               "Sgemm: packed operand does not match: expected %s of width %lld, depth %lld\n",
               is_a ? "A" : "B", static_cast<long long>(width), static_cast<long long>(depth));
  std::abort();
}

}  // namespace

void PackedSgemmMatrix::Free::operator()(float* p) const { std::free(p); }

PackedSgemmMatrix PackSgemmA(bool trans, int64_t m, int64_t k, const float* a, int64_t lda) {
  const SgemmVariant& v = Active();
  PackedSgemmMatrix out;
  out.variant_ = &v;
  out.is_a_ = true;
  out.depth_ = k;
  out.width_ = m;
  out.size_ = CeilDiv(m, v.mr) * v.mr * k;
  out.data_.reset(AllocAlignedFloats(out.size_));
  v.pack_a(trans, m, k, a, lda, out.data_.get());
  return out;
}

PackedSgemmMatrix PackSgemmB(bool trans, int64_t k, int64_t n, const float* b, int64_t ldb) {
  const SgemmVariant& v = Active();
  PackedSgemmMatrix out;
  out.variant_ = &v;
  out.is_a_ = false;
  out.depth_ = k;
  out.width_ = n;
  out.size_ = CeilDiv(n, v.nr) * v.nr * k;
  out.data_.reset(AllocAlignedFloats(out.size_));
  v.pack_b(trans, k, n, b, ldb, out.data_.get());
  return out;
}

void Sgemm(int64_t m, int64_t n, int64_t k, float alpha, const SgemmOperand& a,
           const SgemmOperand& b, float beta, float* c, int64_t ldc, ThreadPool* pool) {
  const SgemmVariant& v = Active();
  if (m > 0 && n > 0 && k > 0) {
    CheckPacked(a.packed, true, m, k, v);
    CheckPacked(b.packed, false, n, k, v);
  }
  v.sgemm(m, n, k, alpha, a, a.packed != nullptr ? a.packed->data() : nullptr, b,
          b.packed != nullptr ? b.packed->data() : nullptr, beta, c, ldc, pool);
}

const char* SgemmKernelName() { return Active().kernel_name; }

}  // namespace fleet::cpu
