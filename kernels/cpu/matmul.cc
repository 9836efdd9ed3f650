// MatMul (NumPy matmul semantics) and Gemm, on top of GemmRowMajor (Fleet's Sgemm for f32,
// OpenBLAS for f64). A constant f32 weight ('B') is packed once and kept in the op's state.
//
// MatMul: 1-D inputs are promoted (A: [K] -> [1,K], B: [K] -> [K,1]) and the
// added dim dropped from the result; leading (batch) dims broadcast. When B has
// no batch dims, A's batch and row dims are folded into one big GEMM ([batch*M,
// K] x [K, N]); otherwise one GEMM per batch entry.
#include <algorithm>
#include <cstring>
#include <string>
#include <type_traits>
#include <vector>

#include "absl/strings/str_cat.h"
#include "kernels/cpu/einsum.h"
#include "kernels/cpu/gemm.h"
#include "kernels/cpu/groups.h"
#include "kernels/cpu/in_float.h"
#include "kernels/cpu/packed_weights.h"
#include "kernels/cpu/sgemm.h"

namespace fleet::cpu {
namespace {

// Multiply-adds below which batched GEMMs are spread over the pool one whole GEMM per task
// rather than each being split.
constexpr int64_t kSmallGemm = 64 * 64 * 64;

// The packed form of constant f32 input `input` (op(B) of shape [k, n]) cached in the op's
// state, or null (not f32, not constant, or no state).
template <typename T>
const PackedSgemmMatrix* PackedB(KernelContext& ctx, int input, bool trans, int64_t k, int64_t n,
                                 const T* b, int64_t ldb) {
  if constexpr (std::is_same_v<T, float>) {
    const std::vector<PackedSgemmMatrix>* packs =
        CachedPackedWeights(ctx, input, trans ? 1 : 0, [&](std::vector<PackedSgemmMatrix>* out) {
          out->push_back(PackSgemmB(trans, k, n, b, ldb));
        });
    return packs != nullptr ? &packs->front() : nullptr;
  } else {
    return nullptr;
  }
}

// GemmRowMajor, or Sgemm with a packed B when one is given (f32 only).
template <typename T>
void Gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, double alpha, const T* a,
          int64_t lda, const T* b, int64_t ldb, const PackedSgemmMatrix* packed_b, double beta,
          T* c, int64_t ldc, ThreadPool* pool) {
  if constexpr (std::is_same_v<T, float>) {
    if (packed_b != nullptr) {
      Sgemm(m, n, k, static_cast<float>(alpha), SgemmOperand{a, lda, trans_a, nullptr},
            SgemmOperand{nullptr, 0, false, packed_b}, static_cast<float>(beta), c, ldc, pool);
      return;
    }
  }
  GemmRowMajor<T>(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, pool);
}

absl::Status CheckSameDtype(KernelContext& ctx, int i, const char* name) {
  if (ctx.input(i).dtype() != ctx.input(0).dtype()) {
    return ctx.InvalidArgument(absl::StrCat(
        "input '", name, "' is ", std::string(DataTypeName(ctx.input(i).dtype())), "; expected ",
        std::string(DataTypeName(ctx.input(0).dtype())), " like input 'A'"));
  }
  return absl::OkStatus();
}

template <typename T>
absl::Status MatMulKernel(KernelContext& ctx) {
  if (!ctx.has_input(0) || !ctx.has_input(1)) {
    return ctx.InvalidArgument("MatMul needs inputs 'A' and 'B'");
  }
  const Tensor& a = ctx.input(0);
  const Tensor& b = ctx.input(1);
  if (absl::Status s = CheckSameDtype(ctx, 1, "B"); !s.ok()) return s;
  if (a.rank() == 0 || b.rank() == 0) {
    return ctx.InvalidArgument(absl::StrCat("input '", a.rank() == 0 ? "A" : "B",
                                            "' is a scalar; MatMul needs rank >= 1"));
  }
  // Promote 1-D operands to matrices.
  std::vector<int64_t> ashape = a.shape(), bshape = b.shape();
  if (a.rank() == 1) ashape.insert(ashape.begin(), 1);
  if (b.rank() == 1) bshape.push_back(1);
  const int64_t m = ashape[ashape.size() - 2], k = ashape.back();
  const int64_t n = bshape.back();
  if (bshape[bshape.size() - 2] != k) {
    return ctx.InvalidArgument(
        absl::StrCat("input 'B' has shape ", ShapeString(b.shape()), "; expected ",
                     b.rank() == 1 ? absl::StrCat("[", k, "]") : absl::StrCat("[...,", k, ",N]"),
                     " to match the last dim of input 'A' ", ShapeString(a.shape())));
  }
  if (!GemmDimsFit(m, n, k)) {
    return ctx.InvalidArgument("MatMul dims exceed the 32-bit limit of the BLAS backend");
  }
  // Broadcast batch dims (right-aligned).
  std::vector<int64_t> abatch(ashape.begin(), ashape.end() - 2);
  std::vector<int64_t> bbatch(bshape.begin(), bshape.end() - 2);
  const size_t nb = std::max(abatch.size(), bbatch.size());
  abatch.insert(abatch.begin(), nb - abatch.size(), 1);
  bbatch.insert(bbatch.begin(), nb - bbatch.size(), 1);
  std::vector<int64_t> batch(nb);
  for (size_t i = 0; i < nb; ++i) {
    if (abatch[i] != bbatch[i] && abatch[i] != 1 && bbatch[i] != 1) {
      return ctx.InvalidArgument(absl::StrCat(
          "inputs 'A' ", ShapeString(a.shape()), " and 'B' ", ShapeString(b.shape()),
          " have batch dims that do not broadcast (", abatch[i], " vs ", bbatch[i], ")"));
    }
    batch[i] = abatch[i] == 1 ? bbatch[i] : abatch[i];
  }
  std::vector<int64_t> out_shape = batch;
  if (a.rank() > 1) out_shape.push_back(m);
  if (b.rank() > 1) out_shape.push_back(n);
  Tensor* y = ctx.Output(0, a.dtype(), out_shape);
  const T* ap = a.data<T>();
  const T* bp = b.data<T>();
  T* yp = y->data<T>();
  const int64_t total_batch = NumElements(batch);
  if (y->numel() == 0) return absl::OkStatus();

  const bool b_has_batch = NumElements(bbatch) > 1;
  if (!b_has_batch && GemmDimsFit(NumElements(abatch) * m, n, k)) {
    // A's batch (broadcast over B's size-1 dims is a no-op) folds into rows.
    Gemm<T>(false, false, NumElements(abatch) * m, n, k, 1.0, ap, k, bp, n,
            PackedB(ctx, 1, false, k, n, bp, n), 0.0, yp, n, ctx.pool());
    return absl::OkStatus();
  }
  // Element strides of each operand's batch dims, 0 where it broadcasts.
  std::vector<int64_t> astride(nb, 0), bstride(nb, 0);
  int64_t as = m * k, bs = k * n;
  for (size_t i = nb; i-- > 0;) {
    astride[i] = abatch[i] == 1 ? 0 : as;
    bstride[i] = bbatch[i] == 1 ? 0 : bs;
    as *= abatch[i];
    bs *= bbatch[i];
  }
  // Inside a ParallelFor the GEMMs run on their task's thread (the pool is not reentrant).
  ThreadPool* gemm_pool = nullptr;
  auto run = [&](int64_t begin, int64_t end) {
    // Offsets of batch entry `begin`, then an odometer over the rest of the
    // chunk.
    std::vector<int64_t> idx(nb, 0);
    int64_t aoff = 0, boff = 0;
    for (int64_t rest = begin, d = static_cast<int64_t>(nb) - 1; d >= 0; --d) {
      idx[d] = rest % batch[d];
      rest /= batch[d];
      aoff += idx[d] * astride[d];
      boff += idx[d] * bstride[d];
    }
    for (int64_t t = begin; t < end; ++t) {
      GemmRowMajor<T>(false, false, m, n, k, 1.0, ap + aoff, k, bp + boff, n, 0.0, yp + t * m * n,
                      n, gemm_pool);
      for (size_t d = nb; d-- > 0;) {
        aoff += astride[d];
        boff += bstride[d];
        if (++idx[d] < batch[d]) break;
        aoff -= astride[d] * batch[d];
        boff -= bstride[d] * batch[d];
        idx[d] = 0;
      }
    }
  };
  // Small GEMMs are spread over the pool, one per task; big ones are each split over it.
  if (m * n * k < kSmallGemm) {
    ctx.ParallelFor(total_batch, std::max<int64_t>(1, kSmallGemm / std::max<int64_t>(1, m * n * k)),
                    run);
  } else {
    gemm_pool = ctx.pool();
    run(0, total_batch);
  }
  return absl::OkStatus();
}

// Gemm (opset 13): Y = alpha * op(A) * op(B) + beta * C, C broadcast
// unidirectionally to [M,N].
template <typename T>
absl::Status GemmKernel(KernelContext& ctx) {
  if (!ctx.has_input(0) || !ctx.has_input(1)) {
    return ctx.InvalidArgument("Gemm needs inputs 'A' and 'B'");
  }
  const Tensor& a = ctx.input(0);
  const Tensor& b = ctx.input(1);
  if (absl::Status s = CheckSameDtype(ctx, 1, "B"); !s.ok()) return s;
  const bool trans_a = ctx.GetInt("transA", 0) != 0;
  const bool trans_b = ctx.GetInt("transB", 0) != 0;
  const double alpha = ctx.GetFloat("alpha", 1.0f);
  double beta = ctx.GetFloat("beta", 1.0f);
  if (a.rank() != 2 || b.rank() != 2) {
    return ctx.InvalidArgument(absl::StrCat("input '", a.rank() != 2 ? "A" : "B", "' has shape ",
                                            ShapeString(a.rank() != 2 ? a.shape() : b.shape()),
                                            "; expected rank 2"));
  }
  const int64_t m = trans_a ? a.dim(1) : a.dim(0);
  const int64_t k = trans_a ? a.dim(0) : a.dim(1);
  const int64_t kb = trans_b ? b.dim(1) : b.dim(0);
  const int64_t n = trans_b ? b.dim(0) : b.dim(1);
  if (kb != k) {
    return ctx.InvalidArgument(absl::StrCat(
        "input 'B' has shape ", ShapeString(b.shape()), " (transB=", trans_b ? 1 : 0,
        "); expected ", trans_b ? absl::StrCat("[N,", k, "]") : absl::StrCat("[", k, ",N]"),
        " to match K=", k, " of input 'A' ", ShapeString(a.shape()), " (transA=", trans_a ? 1 : 0,
        ")"));
  }
  if (!GemmDimsFit(m, n, k)) {
    return ctx.InvalidArgument("Gemm dims exceed the 32-bit limit of the BLAS backend");
  }
  Tensor* y = ctx.Output(0, a.dtype(), {m, n});
  T* yp = y->data<T>();
  if (ctx.has_input(2) && beta != 0) {
    const Tensor& c = ctx.input(2);
    if (absl::Status s = CheckSameDtype(ctx, 2, "C"); !s.ok()) return s;
    // Unidirectional broadcast of C to [M, N].
    std::vector<int64_t> cs = c.shape();
    bool ok = cs.size() <= 2;
    if (ok) {
      cs.insert(cs.begin(), 2 - cs.size(), 1);
      ok = (cs[0] == m || cs[0] == 1) && (cs[1] == n || cs[1] == 1);
    }
    if (!ok) {
      return ctx.InvalidArgument(absl::StrCat("input 'C' has shape ", ShapeString(c.shape()),
                                              "; expected one that broadcasts to [", m, ",", n,
                                              "]"));
    }
    const T* cp = c.data<T>();
    const int64_t rs = cs[0] == 1 ? 0 : cs[1];
    const int64_t es = cs[1] == 1 ? 0 : 1;
    for (int64_t i = 0; i < m; ++i) {
      if (es == 1) {  // a row of C (the bias vector, or row i)
        std::memcpy(yp + i * n, cp + i * rs, sizeof(T) * n);
      } else {
        std::fill(yp + i * n, yp + (i + 1) * n, cp[i * rs]);
      }
    }
  } else {
    beta = 0;
  }
  Gemm<T>(trans_a, trans_b, m, n, k, alpha, a.data<T>(), a.dim(1), b.data<T>(), b.dim(1),
          PackedB(ctx, 1, trans_b, k, n, b.data<T>(), b.dim(1)), beta, yp, n, ctx.pool());
  return absl::OkStatus();
}

}  // namespace

void RegisterMatMulKernels(KernelTable& table) {
  table.Add("MatMul", Device::kCpu, {DataType::kF32}, &MatMulKernel<float>);
  table.Add("MatMul", Device::kCpu, {DataType::kF16, DataType::kBF16},
            &InFloat<&MatMulKernel<float>>);
  table.Add("MatMul", Device::kCpu, {DataType::kF64}, &MatMulKernel<double>);
  table.Add("MatMul", Device::kCpu, {DataType::kI32}, &MatMulKernel<int32_t>);
  table.Add("MatMul", Device::kCpu, {DataType::kI64}, &MatMulKernel<int64_t>);
  table.Add("Gemm", Device::kCpu, {DataType::kF32}, &GemmKernel<float>);
  table.Add("Gemm", Device::kCpu, {DataType::kF64}, &GemmKernel<double>);
  table.Add("Gemm", Device::kCpu, {DataType::kF16, DataType::kBF16}, &InFloat<&GemmKernel<float>>);
  table.Add("Gemm", Device::kCpu, {DataType::kI32}, &GemmKernel<int32_t>);
  table.Add("Gemm", Device::kCpu, {DataType::kI64}, &GemmKernel<int64_t>);
  RegisterEinsumKernels(table);
}

}  // namespace fleet::cpu
