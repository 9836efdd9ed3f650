// Gemm, MatMul and MatMul's gradients (fleet.matmul_grad_a, fleet.matmul_grad_b) through
// cuBLAS, in f32 (TF32 tensor cores when the device allows them, CudaDeviceOptions::allow_tf32)
// and in f16 for mixed precision (every operand f16, products accumulated in f32 by
// cublasGemmEx with CUBLAS_COMPUTE_32F, tensor cores allowed).
//
// Tensors are row-major and cuBLAS is column-major: a row-major [m, n] matrix is the
// column-major [n, m] one, its transpose. So Y = op(A) op(B) is computed as
// Y^T = op(B)^T op(A)^T, cuBLAS's (B, A) product with the row lengths as leading dimensions.
// Shapes, attributes and messages follow kernels/cpu/matmul.cc.
#include <algorithm>
#include <climits>
#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include "absl/strings/str_cat.h"
#include "ir/status_macros.h"
#include "kernels/cpu/gemm.h"
#include "kernels/cpu/matmul_grad_geometry.h"
#include "kernels/cuda/groups.h"
#include "kernels/cuda/kernel_util.h"
#include "kernels/cuda/launch.h"

namespace fleet::cuda {
namespace {

absl::Status CheckSameDtype(KernelContext& ctx, int i, const char* name) {
  if (ctx.input(i).dtype() != ctx.input(0).dtype()) {
    return ctx.InvalidArgument(absl::StrCat(
        "input '", name, "' is ", std::string(DataTypeName(ctx.input(i).dtype())), "; expected ",
        std::string(DataTypeName(ctx.input(0).dtype())), " like input 'A'"));
  }
  return absl::OkStatus();
}

// f16 and bf16 elements as the host stores them (executor/half.h, ir/bfloat16.h): their bits.
// Which of the two a kernel has is the dtype of its input 0 (all its operands share it).
using Half = uint16_t;

// One row-major product Y[m, n] = alpha op(A)[m, k] op(B)[k, n] + beta Y, with lda and ldb the
// row lengths of A and B as stored; `batch` of them at the given element strides.
struct RowMajorGemm {
  bool trans_a = false, trans_b = false;
  int64_t m = 0, n = 0, k = 0;
  int64_t lda = 0, ldb = 0;
  float alpha = 1, beta = 0;
  int64_t batch = 1, stride_a = 0, stride_b = 0, stride_y = 0;
};

// T is float (Sgemm) or Half (GemmEx on f16 or bf16 operands with f32 alpha, beta and
// accumulation).
template <typename T>
absl::Status RunGemm(KernelContext& ctx, const RowMajorGemm& g, const T* a, const T* b, T* y) {
  if (g.m == 0 || g.n == 0 || g.batch == 0) return absl::OkStatus();
  if (g.k == 0) {  // an empty sum: Y = beta Y (cuBLAS rejects leading dimensions of 0)
    const int64_t count = g.m * g.n * g.batch;
    if (g.beta == 0) {
      return Launched(ctx, cudaMemsetAsync(y, 0, sizeof(T) * count, Stream(ctx)),
                      "cudaMemsetAsync");
    }
    if constexpr (std::is_same_v<T, Half>) {
      return Launched(
          ctx, LaunchScaleHalf(HalfTypeOf(ctx.input(0).dtype()), y, count, g.beta, Stream(ctx)),
          "scale kernel");
    } else {
      return Launched(ctx, LaunchScale(y, count, g.beta, Stream(ctx)), "scale kernel");
    }
  }
  FLEET_ASSIGN_OR_RETURN(CudaDevice * gpu, GpuOf(ctx));
  cublasHandle_t blas = BlasOf(*gpu);
  const cublasOperation_t op_b = g.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
  const cublasOperation_t op_a = g.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
  const int m = static_cast<int>(g.m), n = static_cast<int>(g.n), k = static_cast<int>(g.k);
  const int lda = static_cast<int>(g.lda), ldb = static_cast<int>(g.ldb);
  if constexpr (std::is_same_v<T, float>) {
    if (g.batch == 1) {
      return BlasDone(
          ctx, cublasSgemm(blas, op_b, op_a, n, m, k, &g.alpha, b, ldb, a, lda, &g.beta, y, n),
          "cublasSgemm");
    }
    return BlasDone(
        ctx,
        cublasSgemmStridedBatched(blas, op_b, op_a, n, m, k, &g.alpha, b, ldb, g.stride_b, a, lda,
                                  g.stride_a, &g.beta, y, n, g.stride_y, static_cast<int>(g.batch)),
        "cublasSgemmStridedBatched");
  } else {
    // 16 bits: the (B, A) operand order, dims and leading dimensions of the Sgemm calls above.
    const cudaDataType_t type = ctx.input(0).dtype() == DataType::kBF16 ? CUDA_R_16BF : CUDA_R_16F;
    if (g.batch == 1) {
      return BlasDone(ctx,
                      cublasGemmEx(blas, op_b, op_a, n, m, k, &g.alpha, b, type, ldb, a, type, lda,
                                   &g.beta, y, type, n, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
                      "cublasGemmEx");
    }
    return BlasDone(ctx,
                    cublasGemmStridedBatchedEx(blas, op_b, op_a, n, m, k, &g.alpha, b, type, ldb,
                                               g.stride_b, a, type, lda, g.stride_a, &g.beta, y,
                                               type, n, g.stride_y, static_cast<int>(g.batch),
                                               CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
                    "cublasGemmStridedBatchedEx");
  }
}

template <typename T>
absl::Status MatMulKernel(KernelContext& ctx) {
  if (!ctx.has_input(0) || !ctx.has_input(1)) {
    return ctx.InvalidArgument("MatMul needs inputs 'A' and 'B'");
  }
  const Tensor& a = ctx.input(0);
  const Tensor& b = ctx.input(1);
  FLEET_RETURN_IF_ERROR(CheckSameDtype(ctx, 1, "B"));
  if (a.rank() == 0 || b.rank() == 0) {
    return ctx.InvalidArgument(absl::StrCat("input '", a.rank() == 0 ? "A" : "B",
                                            "' is a scalar; MatMul needs rank >= 1"));
  }
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
  if (!cpu::GemmDimsFit(m, n, k)) {
    return ctx.InvalidArgument("MatMul dims exceed the 32-bit limit of the BLAS backend");
  }
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
  if (y->numel() == 0) return absl::OkStatus();
  const T* ap = a.data<T>();
  const T* bp = b.data<T>();
  T* yp = y->data<T>();
  const int64_t a_count = NumElements(abatch), b_count = NumElements(bbatch);
  const int64_t total = NumElements(batch);

  RowMajorGemm g;
  g.n = n;
  g.k = k;
  g.lda = k;
  g.ldb = n;
  if (b_count == 1 && cpu::GemmDimsFit(a_count * m, n, k)) {
    // B has no batch: A's batch folds into its rows, one GEMM.
    g.m = a_count * m;
    return RunGemm(ctx, g, ap, bp, yp);
  }
  g.m = m;
  g.stride_y = m * n;
  if ((a_count == total || a_count == 1) && (b_count == total || b_count == 1) &&
      total <= INT32_MAX) {
    // Each operand is either fully batched or shared: one strided batched call.
    g.batch = total;
    g.stride_a = a_count == 1 ? 0 : m * k;
    g.stride_b = b_count == 1 ? 0 : k * n;
    return RunGemm(ctx, g, ap, bp, yp);
  }
  // Batch dims broadcast both ways ([2,1] x [1,3]): one GEMM per output matrix.
  std::vector<int64_t> astride(nb, 0), bstride(nb, 0);
  int64_t as = m * k, bs = k * n;
  for (size_t i = nb; i-- > 0;) {
    astride[i] = abatch[i] == 1 ? 0 : as;
    bstride[i] = bbatch[i] == 1 ? 0 : bs;
    as *= abatch[i];
    bs *= bbatch[i];
  }
  for (int64_t t = 0; t < total; ++t) {
    int64_t aoff = 0, boff = 0;
    for (int64_t rest = t, d = static_cast<int64_t>(nb) - 1; d >= 0; --d) {
      const int64_t idx = rest % batch[d];
      rest /= batch[d];
      aoff += idx * astride[d];
      boff += idx * bstride[d];
    }
    FLEET_RETURN_IF_ERROR(RunGemm(ctx, g, ap + aoff, bp + boff, yp + t * m * n));
  }
  return absl::OkStatus();
}

// Gemm (opset 13): Y = alpha * op(A) * op(B) + beta * C, C broadcast unidirectionally to [M,N].
template <typename T>
absl::Status GemmKernel(KernelContext& ctx) {
  if (!ctx.has_input(0) || !ctx.has_input(1)) {
    return ctx.InvalidArgument("Gemm needs inputs 'A' and 'B'");
  }
  const Tensor& a = ctx.input(0);
  const Tensor& b = ctx.input(1);
  FLEET_RETURN_IF_ERROR(CheckSameDtype(ctx, 1, "B"));
  RowMajorGemm g;
  g.trans_a = ctx.GetInt("transA", 0) != 0;
  g.trans_b = ctx.GetInt("transB", 0) != 0;
  g.alpha = ctx.GetFloat("alpha", 1.0f);
  g.beta = ctx.GetFloat("beta", 1.0f);
  if (a.rank() != 2 || b.rank() != 2) {
    return ctx.InvalidArgument(absl::StrCat("input '", a.rank() != 2 ? "A" : "B", "' has shape ",
                                            ShapeString(a.rank() != 2 ? a.shape() : b.shape()),
                                            "; expected rank 2"));
  }
  g.m = g.trans_a ? a.dim(1) : a.dim(0);
  g.k = g.trans_a ? a.dim(0) : a.dim(1);
  const int64_t kb = g.trans_b ? b.dim(1) : b.dim(0);
  g.n = g.trans_b ? b.dim(0) : b.dim(1);
  if (kb != g.k) {
    return ctx.InvalidArgument(absl::StrCat(
        "input 'B' has shape ", ShapeString(b.shape()), " (transB=", g.trans_b ? 1 : 0,
        "); expected ", g.trans_b ? absl::StrCat("[N,", g.k, "]") : absl::StrCat("[", g.k, ",N]"),
        " to match K=", g.k, " of input 'A' ", ShapeString(a.shape()),
        " (transA=", g.trans_a ? 1 : 0, ")"));
  }
  if (!cpu::GemmDimsFit(g.m, g.n, g.k)) {
    return ctx.InvalidArgument("Gemm dims exceed the 32-bit limit of the BLAS backend");
  }
  g.lda = a.dim(1);
  g.ldb = b.dim(1);
  const Tensor* c = ctx.has_input(2) && g.beta != 0 ? &ctx.input(2) : nullptr;
  int64_t row_stride = 0, col_stride = 0;
  if (c != nullptr) {
    FLEET_RETURN_IF_ERROR(CheckSameDtype(ctx, 2, "C"));
    std::vector<int64_t> cs = c->shape();
    bool ok = cs.size() <= 2;
    if (ok) {
      cs.insert(cs.begin(), 2 - cs.size(), 1);
      ok = (cs[0] == g.m || cs[0] == 1) && (cs[1] == g.n || cs[1] == 1);
    }
    if (!ok) {
      return ctx.InvalidArgument(absl::StrCat("input 'C' has shape ", ShapeString(c->shape()),
                                              "; expected one that broadcasts to [", g.m, ",", g.n,
                                              "]"));
    }
    row_stride = cs[0] == 1 ? 0 : cs[1];
    col_stride = cs[1] == 1 ? 0 : 1;
  } else {
    g.beta = 0;
  }
  Tensor* y = ctx.Output(0, a.dtype(), {g.m, g.n});
  if (c != nullptr) {
    cudaError_t launched;
    if constexpr (std::is_same_v<T, Half>) {
      launched = LaunchBroadcastMatrixHalf(c->data<Half>(), row_stride, col_stride, y->data<Half>(),
                                           g.m, g.n, Stream(ctx));
    } else {
      launched = LaunchBroadcastMatrix(c->data<float>(), row_stride, col_stride, y->data<float>(),
                                       g.m, g.n, Stream(ctx));
    }
    FLEET_RETURN_IF_ERROR(Launched(ctx, launched, "Gemm's C broadcast kernel"));
  }
  return RunGemm<T>(ctx, g, a.data<T>(), b.data<T>(), y->data<T>());
}

// fleet.matmul_grad_a(A, B, YGrad) -> AGrad = YGrad B^T, and fleet.matmul_grad_b -> BGrad =
// A^T YGrad, each summed over the batch dims its input broadcast (kernels/cpu/grad_matmul.cc).
// The usual cases are one GEMM (a weight shared by the batch: the batch folds into the rows of
// AGrad, or into the depth of BGrad's product) or one strided batched GEMM (both operands
// batched); an input that broadcasts gets a GEMM per batch entry, accumulated into its matrix.
template <typename T, bool kWrtB>
absl::Status MatMulGradKernel(KernelContext& ctx) {
  if (!ctx.has_input(0) || !ctx.has_input(1) || !ctx.has_input(2)) {
    return ctx.InvalidArgument("needs inputs 'A', 'B' and 'YGrad'");
  }
  cpu::MatMulGeometry geo;
  FLEET_RETURN_IF_ERROR(cpu::ComputeMatMulGradGeometry(ctx, &geo));
  const Tensor& a = ctx.input(0);
  const Tensor& b = ctx.input(1);
  const T* ap = a.data<T>();
  const T* bp = b.data<T>();
  const T* dy = ctx.input(2).data<T>();
  const int64_t m = geo.m, k = geo.k, n = geo.n;
  Tensor* out = ctx.Output(0, a.dtype(), kWrtB ? b.shape() : a.shape());
  T* g = out->data<T>();
  if (out->numel() == 0) return absl::OkStatus();
  const int64_t own_count = kWrtB ? geo.b_count : geo.a_count;
  const int64_t other_count = kWrtB ? geo.a_count : geo.b_count;
  const bool unique = own_count == geo.total;
  if (geo.total == 0 || m == 0 || n == 0 || !unique) {
    // Nothing to add, or entries that share a matrix accumulate into zeros.
    FLEET_RETURN_IF_ERROR(Launched(
        ctx, cudaMemsetAsync(g, 0, sizeof(T) * out->numel(), Stream(ctx)), "cudaMemsetAsync"));
    if (geo.total == 0 || m == 0 || n == 0) return absl::OkStatus();
  }
  RowMajorGemm gemm;
  if constexpr (!kWrtB) {
    // AGrad[m, k] = YGrad[m, n] B[k, n]^T
    gemm.trans_b = true;
    gemm.m = m;
    gemm.n = k;
    gemm.k = n;
    gemm.lda = n;
    gemm.ldb = n;
    if (unique && other_count == 1 && cpu::GemmDimsFit(geo.total * m, k, n)) {
      gemm.m = geo.total * m;
      return RunGemm(ctx, gemm, dy, bp, g);
    }
  } else {
    // BGrad[k, n] = A[m, k]^T YGrad[m, n]
    gemm.trans_a = true;
    gemm.m = k;
    gemm.n = n;
    gemm.k = m;
    gemm.lda = k;
    gemm.ldb = n;
    if (own_count == 1 && other_count == geo.total && cpu::GemmDimsFit(k, n, geo.total * m)) {
      gemm.k = geo.total * m;
      return RunGemm(ctx, gemm, ap, dy, g);
    }
  }
  if (unique && other_count == geo.total && geo.total <= INT32_MAX) {
    // Both operands batched alike: one strided batched call.
    gemm.batch = geo.total;
    gemm.stride_y = kWrtB ? k * n : m * k;
    if constexpr (!kWrtB) {
      gemm.stride_a = m * n;
      gemm.stride_b = k * n;
      return RunGemm(ctx, gemm, dy, bp, g);
    } else {
      gemm.stride_a = m * k;
      gemm.stride_b = m * n;
      return RunGemm(ctx, gemm, ap, dy, g);
    }
  }
  // One GEMM per output batch entry, in stream order, accumulating where entries share.
  gemm.beta = unique ? 0.f : 1.f;
  for (int64_t o = 0; o < geo.total; ++o) {
    if constexpr (!kWrtB) {
      FLEET_RETURN_IF_ERROR(RunGemm(ctx, gemm, dy + o * m * n, bp + geo.b_index[o] * k * n,
                                    g + geo.a_index[o] * m * k));
    } else {
      FLEET_RETURN_IF_ERROR(RunGemm(ctx, gemm, ap + geo.a_index[o] * m * k, dy + o * m * n,
                                    g + geo.b_index[o] * k * n));
    }
  }
  return absl::OkStatus();
}

}  // namespace

void RegisterMatMulKernels(KernelTable& table) {
  const Device cuda = Device::kCuda;
  table.Add("MatMul", cuda, {DataType::kF32}, &MatMulKernel<float>);
  table.Add("fleet.matmul_grad_a", cuda, {DataType::kF32}, &MatMulGradKernel<float, false>);
  table.Add("fleet.matmul_grad_b", cuda, {DataType::kF32}, &MatMulGradKernel<float, true>);
  table.Add("Gemm", cuda, {DataType::kF32}, &GemmKernel<float>);
  // Mixed precision: f16 or bf16 operands, f32 accumulation.
  const std::vector<DataType> halves = {DataType::kF16, DataType::kBF16};
  table.Add("MatMul", cuda, halves, &MatMulKernel<Half>);
  table.Add("fleet.matmul_grad_a", cuda, halves, &MatMulGradKernel<Half, false>);
  table.Add("fleet.matmul_grad_b", cuda, halves, &MatMulGradKernel<Half, true>);
  table.Add("Gemm", cuda, halves, &GemmKernel<Half>);
}

}  // namespace fleet::cuda
