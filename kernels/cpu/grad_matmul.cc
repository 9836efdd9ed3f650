// Gradients of MatMul (NumPy matmul semantics, as kernels/cpu/matmul.cc), one op per input:
//   fleet.matmul_grad_a(A, B, YGrad) -> AGrad = YGrad * B^T
//   fleet.matmul_grad_b(A, B, YGrad) -> BGrad = A^T * YGrad
// each summed over the batch dims its input broadcast. 1-D operands are promoted as in the
// forward (A: [K] -> [1,K], B: [K] -> [K,1]); the promoted and original layouts coincide.
//
// The usual cases are one GEMM: when the other operand has a single batch entry and this one
// does not broadcast, the batch folds into the GEMM's rows (AGrad) or its depth (BGrad, so
// the weight gradient of a batched linear layer is [K, batch*M] x [batch*M, N]). Otherwise one
// GEMM per batch entry: small ones spread over the pool, and accumulated (beta 1) into the
// entries a broadcast input shares.
#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "kernels/cpu/gemm.h"
#include "kernels/cpu/groups.h"
#include "kernels/cpu/in_float.h"
#include "kernels/cpu/matmul_grad_geometry.h"

namespace fleet::cpu {
namespace {

// Multiply-adds below which per-batch GEMMs run one per task rather than each split.
constexpr int64_t kSmallGemm = 64 * 64 * 64;

}  // namespace

absl::Status ComputeMatMulGradGeometry(const KernelContext& ctx, MatMulGeometry* geo) {
  const Tensor& a = ctx.input(0);
  const Tensor& b = ctx.input(1);
  const Tensor& dy = ctx.input(2);
  if (a.rank() == 0 || b.rank() == 0) {
    return ctx.InvalidArgument("inputs 'A' and 'B' need rank >= 1");
  }
  if (b.dtype() != a.dtype() || dy.dtype() != a.dtype()) {
    return ctx.InvalidArgument(absl::StrCat("inputs are ", a.TypeString(), ", ", b.TypeString(),
                                            " and ", dy.TypeString(), "; expected one dtype"));
  }
  std::vector<int64_t> ashape = a.shape(), bshape = b.shape();
  if (a.rank() == 1) ashape.insert(ashape.begin(), 1);
  if (b.rank() == 1) bshape.push_back(1);
  geo->m = ashape[ashape.size() - 2];
  geo->k = ashape.back();
  geo->n = bshape.back();
  if (bshape[bshape.size() - 2] != geo->k) {
    return ctx.InvalidArgument(absl::StrCat("inputs 'A' ", ShapeString(a.shape()), " and 'B' ",
                                            ShapeString(b.shape()), " do not multiply"));
  }
  std::vector<int64_t> abatch(ashape.begin(), ashape.end() - 2);
  std::vector<int64_t> bbatch(bshape.begin(), bshape.end() - 2);
  const size_t nb = std::max(abatch.size(), bbatch.size());
  abatch.insert(abatch.begin(), nb - abatch.size(), 1);
  bbatch.insert(bbatch.begin(), nb - bbatch.size(), 1);
  std::vector<int64_t> batch(nb);
  for (size_t i = 0; i < nb; ++i) {
    if (abatch[i] != bbatch[i] && abatch[i] != 1 && bbatch[i] != 1) {
      return ctx.InvalidArgument(absl::StrCat("inputs 'A' ", ShapeString(a.shape()), " and 'B' ",
                                              ShapeString(b.shape()),
                                              " have batch dims that do not broadcast"));
    }
    batch[i] = std::max(abatch[i], bbatch[i]);
  }
  std::vector<int64_t> out_shape = batch;
  if (a.rank() > 1) out_shape.push_back(geo->m);
  if (b.rank() > 1) out_shape.push_back(geo->n);
  if (dy.shape() != out_shape) {
    return ctx.InvalidArgument(absl::StrCat("input 'YGrad' has shape ", ShapeString(dy.shape()),
                                            "; expected MatMul's output shape ",
                                            ShapeString(out_shape)));
  }
  if (!GemmDimsFit(geo->m, geo->n, geo->k) ||
      !GemmDimsFit(NumElements(batch) * geo->m, geo->n, geo->k)) {
    return ctx.InvalidArgument("MatMul dims exceed the 32-bit limit of the BLAS backend");
  }
  geo->total = NumElements(batch);
  geo->a_count = NumElements(abatch);
  geo->b_count = NumElements(bbatch);
  geo->a_index.assign(geo->total, 0);
  geo->b_index.assign(geo->total, 0);
  for (int64_t o = 0; o < geo->total; ++o) {
    int64_t rest = o, ai = 0, bi = 0, astride = 1, bstride = 1;
    for (size_t d = nb; d-- > 0;) {
      const int64_t idx = rest % batch[d];
      rest /= batch[d];
      if (abatch[d] != 1) ai += idx * astride;
      if (bbatch[d] != 1) bi += idx * bstride;
      astride *= abatch[d];
      bstride *= bbatch[d];
    }
    geo->a_index[o] = ai;
    geo->b_index[o] = bi;
  }
  return absl::OkStatus();
}

namespace {

// Runs gemm(o, beta, pool) for every output batch entry o: in parallel (one GEMM per task)
// when every entry writes its own result and the GEMMs are small, else in order, each GEMM
// threaded, accumulating (beta 1) into results that entries share.
template <typename Fn>
void ForEachEntry(const KernelContext& ctx, const MatMulGeometry& geo, bool unique, Fn gemm) {
  const int64_t work = geo.m * geo.n * geo.k;
  if (unique && work < kSmallGemm && geo.total > 1) {
    ctx.ParallelFor(geo.total, std::max<int64_t>(1, kSmallGemm / std::max<int64_t>(1, work)),
                    [&](int64_t begin, int64_t end) {
                      for (int64_t o = begin; o < end; ++o) gemm(o, 0.0, nullptr);
                    });
    return;
  }
  for (int64_t o = 0; o < geo.total; ++o) gemm(o, unique ? 0.0 : 1.0, ctx.pool());
}

template <typename T, bool kWrtB>
absl::Status MatMulGradKernel(KernelContext& ctx) {
  if (!ctx.has_input(0) || !ctx.has_input(1) || !ctx.has_input(2)) {
    return ctx.InvalidArgument("needs inputs 'A', 'B' and 'YGrad'");
  }
  MatMulGeometry geo;
  if (absl::Status s = ComputeMatMulGradGeometry(ctx, &geo); !s.ok()) return s;
  const Tensor& a = ctx.input(0);
  const Tensor& b = ctx.input(1);
  const T* ap = a.data<T>();
  const T* bp = b.data<T>();
  const T* dy = ctx.input(2).data<T>();
  const int64_t m = geo.m, k = geo.k, n = geo.n;
  Tensor* out = ctx.Output(0, a.dtype(), kWrtB ? b.shape() : a.shape());
  T* g = out->data<T>();
  if (out->numel() == 0) return absl::OkStatus();
  if (geo.total == 0 || m == 0 || n == 0) {
    std::fill(g, g + out->numel(), T{0});
    return absl::OkStatus();
  }
  if constexpr (!kWrtB) {
    // AGrad[ai] += YGrad[o] * B[bi]^T   ([m, n] x [n, k])
    const bool unique = geo.a_count == geo.total;
    if (unique && geo.b_count == 1) {
      GemmRowMajor<T>(false, true, geo.total * m, k, n, 1.0, dy, n, bp, n, 0.0, g, k, ctx.pool());
      return absl::OkStatus();
    }
    if (!unique) std::fill(g, g + out->numel(), T{0});
    ForEachEntry(ctx, geo, unique, [&](int64_t o, double beta, ThreadPool* pool) {
      GemmRowMajor<T>(false, true, m, k, n, 1.0, dy + o * m * n, n, bp + geo.b_index[o] * k * n, n,
                      beta, g + geo.a_index[o] * m * k, k, pool);
    });
  } else {
    // BGrad[bi] += A[ai]^T * YGrad[o]   ([k, m] x [m, n])
    const bool unique = geo.b_count == geo.total;
    if (geo.b_count == 1 && geo.a_count == geo.total) {
      GemmRowMajor<T>(true, false, k, n, geo.total * m, 1.0, ap, k, dy, n, 0.0, g, n, ctx.pool());
      return absl::OkStatus();
    }
    if (!unique) std::fill(g, g + out->numel(), T{0});
    ForEachEntry(ctx, geo, unique, [&](int64_t o, double beta, ThreadPool* pool) {
      GemmRowMajor<T>(true, false, k, n, m, 1.0, ap + geo.a_index[o] * m * k, k, dy + o * m * n, n,
                      beta, g + geo.b_index[o] * k * n, n, pool);
    });
  }
  return absl::OkStatus();
}

}  // namespace

void RegisterMatMulGradKernels(KernelTable& table) {
  table.Add("fleet.matmul_grad_a", Device::kCpu, {DataType::kF32}, &MatMulGradKernel<float, false>);
  table.Add("fleet.matmul_grad_a", Device::kCpu, {DataType::kF64},
            &MatMulGradKernel<double, false>);
  table.Add("fleet.matmul_grad_b", Device::kCpu, {DataType::kF32}, &MatMulGradKernel<float, true>);
  table.Add("fleet.matmul_grad_b", Device::kCpu, {DataType::kF64}, &MatMulGradKernel<double, true>);
  table.Add("fleet.matmul_grad_a", Device::kCpu, {DataType::kF16, DataType::kBF16},
            &InFloat<&MatMulGradKernel<float, false>>);
  table.Add("fleet.matmul_grad_b", Device::kCpu, {DataType::kF16, DataType::kBF16},
            &InFloat<&MatMulGradKernel<float, true>>);
}

}  // namespace fleet::cpu
