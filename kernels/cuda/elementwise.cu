// Elementwise CUDA kernels: binary arithmetic with broadcasting, activations and their
// gradients, permuted copies (Transpose), fills, scaling, Gemm's broadcast C, and the sum of a
// tensor down to a broadcast shape.
#include <cmath>

#include "kernels/cuda/launch.h"
#include "kernels/cuda/launch_util.cuh"

namespace fleet::cuda {
namespace {

template <BinaryOp kOp>
__device__ float Apply(float a, float b) {
  if constexpr (kOp == BinaryOp::kAdd) return a + b;
  if constexpr (kOp == BinaryOp::kSub) return a - b;
  if constexpr (kOp == BinaryOp::kMul) return a * b;
  return a / b;
}

template <BinaryOp kOp>
__global__ void BinaryKernel(const float* a, const float* b, float* y, int64_t n,
                             BroadcastIndex index) {
  for (int64_t i = GlobalThread(); i < n; i += GridStride()) {
    int64_t rest = i, ia = 0, ib = 0;
    for (int d = index.rank - 1; d >= 0; --d) {
      const int64_t k = rest % index.dims[d];
      rest /= index.dims[d];
      ia += k * index.a_strides[d];
      ib += k * index.b_strides[d];
    }
    y[i] = Apply<kOp>(a[ia], b[ib]);
  }
}

template <Activation kF>
__device__ float Activate(float x) {
  if constexpr (kF == Activation::kRelu) return x > 0.f ? x : 0.f;
  if constexpr (kF == Activation::kSigmoid) return 1.f / (1.f + expf(-x));
  if constexpr (kF == Activation::kTanh) return tanhf(x);
  if constexpr (kF == Activation::kNeg) return -x;
  return erff(x);
}

template <Activation kF>
__device__ float ActivationGrad(float y, float dy) {
  if constexpr (kF == Activation::kRelu) return y > 0.f ? dy : 0.f;
  if constexpr (kF == Activation::kSigmoid) return dy * y * (1.f - y);
  if constexpr (kF == Activation::kTanh) return dy * (1.f - y * y);
  if constexpr (kF == Activation::kNeg) return -dy;
  constexpr float kTwoOverSqrtPi = 1.12837916709551257390f;
  return dy * kTwoOverSqrtPi * expf(-y * y);  // y is Erf's input here
}

template <Activation kF>
__global__ void ActivationKernel(const float* x, float* y, int64_t n) {
  for (int64_t i = GlobalThread(); i < n; i += GridStride()) y[i] = Activate<kF>(x[i]);
}

template <Activation kF>
__global__ void ActivationGradKernel(const float* y, const float* dy, float* dx, int64_t n) {
  for (int64_t i = GlobalThread(); i < n; i += GridStride())
    dx[i] = ActivationGrad<kF>(y[i], dy[i]);
}

__global__ void PermuteKernel(const float* x, float* y, int64_t n, PermuteIndex index) {
  for (int64_t i = GlobalThread(); i < n; i += GridStride()) {
    int64_t rest = i, offset = 0;
    for (int d = index.rank - 1; d >= 0; --d) {
      offset += (rest % index.dims[d]) * index.x_strides[d];
      rest /= index.dims[d];
    }
    y[i] = x[offset];
  }
}

template <typename T>
__global__ void FillKernel(T bits, T* y, int64_t n) {
  for (int64_t i = GlobalThread(); i < n; i += GridStride()) y[i] = bits;
}

__global__ void ScaleKernel(float* y, int64_t n, float scale) {
  for (int64_t i = GlobalThread(); i < n; i += GridStride()) y[i] *= scale;
}

// Copies elements without arithmetic, so f16's bits travel as uint16_t.
template <typename T>
__global__ void BroadcastMatrixKernel(const T* c, int64_t row_stride, int64_t col_stride, T* y,
                                      int64_t m, int64_t n) {
  for (int64_t i = GlobalThread(); i < m * n; i += GridStride()) {
    y[i] = c[(i / n) * row_stride + (i % n) * col_stride];
  }
}

// One thread per output element sums its reduced set; neighbouring threads read neighbouring
// kept elements, so the common bias gradient ([N, C] -> [C]) reads coalesced rows.
__global__ void ReduceToKernel(const float* x, float* out, int64_t out_n, int64_t reduced_n,
                               ReduceIndex index) {
  for (int64_t j = GlobalThread(); j < out_n; j += GridStride()) {
    int64_t base = 0;
    for (int64_t d = index.rank - 1, rest = j; d >= 0; --d) {
      base += (rest % index.out_dims[d]) * index.x_strides[d];
      rest /= index.out_dims[d];
    }
    float sum = 0.f;
    for (int64_t r = 0; r < reduced_n; ++r) {
      int64_t offset = base;
      for (int64_t d = index.rank - 1, rest = r; d >= 0; --d) {
        offset += (rest % index.reduced_dims[d]) * index.x_strides[d];
        rest /= index.reduced_dims[d];
      }
      sum += x[offset];
    }
    out[j] = sum;
  }
}

}  // namespace

cudaError_t LaunchBinary(BinaryOp op, const float* a, const float* b, float* y, int64_t n,
                         const BroadcastIndex& index, cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  const unsigned int blocks = BlocksFor(n);
  switch (op) {
    case BinaryOp::kAdd:
      BinaryKernel<BinaryOp::kAdd><<<blocks, kThreads, 0, stream>>>(a, b, y, n, index);
      break;
    case BinaryOp::kSub:
      BinaryKernel<BinaryOp::kSub><<<blocks, kThreads, 0, stream>>>(a, b, y, n, index);
      break;
    case BinaryOp::kMul:
      BinaryKernel<BinaryOp::kMul><<<blocks, kThreads, 0, stream>>>(a, b, y, n, index);
      break;
    case BinaryOp::kDiv:
      BinaryKernel<BinaryOp::kDiv><<<blocks, kThreads, 0, stream>>>(a, b, y, n, index);
      break;
  }
  return cudaGetLastError();
}

cudaError_t LaunchActivation(Activation f, const float* x, float* y, int64_t n,
                             cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  switch (f) {
    case Activation::kRelu:
      ActivationKernel<Activation::kRelu><<<BlocksFor(n), kThreads, 0, stream>>>(x, y, n);
      break;
    case Activation::kSigmoid:
      ActivationKernel<Activation::kSigmoid><<<BlocksFor(n), kThreads, 0, stream>>>(x, y, n);
      break;
    case Activation::kTanh:
      ActivationKernel<Activation::kTanh><<<BlocksFor(n), kThreads, 0, stream>>>(x, y, n);
      break;
    case Activation::kErf:
      ActivationKernel<Activation::kErf><<<BlocksFor(n), kThreads, 0, stream>>>(x, y, n);
      break;
    case Activation::kNeg:
      ActivationKernel<Activation::kNeg><<<BlocksFor(n), kThreads, 0, stream>>>(x, y, n);
      break;
  }
  return cudaGetLastError();
}

cudaError_t LaunchActivationGrad(Activation f, const float* y, const float* dy, float* dx,
                                 int64_t n, cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  switch (f) {
    case Activation::kRelu:
      ActivationGradKernel<Activation::kRelu><<<BlocksFor(n), kThreads, 0, stream>>>(y, dy, dx, n);
      break;
    case Activation::kSigmoid:
      ActivationGradKernel<Activation::kSigmoid>
          <<<BlocksFor(n), kThreads, 0, stream>>>(y, dy, dx, n);
      break;
    case Activation::kTanh:
      ActivationGradKernel<Activation::kTanh><<<BlocksFor(n), kThreads, 0, stream>>>(y, dy, dx, n);
      break;
    case Activation::kErf:
      ActivationGradKernel<Activation::kErf><<<BlocksFor(n), kThreads, 0, stream>>>(y, dy, dx, n);
      break;
    case Activation::kNeg:
      ActivationGradKernel<Activation::kNeg><<<BlocksFor(n), kThreads, 0, stream>>>(y, dy, dx, n);
      break;
  }
  return cudaGetLastError();
}

cudaError_t LaunchPermute(const float* x, float* y, int64_t n, const PermuteIndex& index,
                          cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  PermuteKernel<<<BlocksFor(n), kThreads, 0, stream>>>(x, y, n, index);
  return cudaGetLastError();
}

cudaError_t LaunchFill32(uint32_t bits, void* y, int64_t n, cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  FillKernel<uint32_t><<<BlocksFor(n), kThreads, 0, stream>>>(bits, static_cast<uint32_t*>(y), n);
  return cudaGetLastError();
}

cudaError_t LaunchFill64(uint64_t bits, void* y, int64_t n, cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  FillKernel<uint64_t><<<BlocksFor(n), kThreads, 0, stream>>>(bits, static_cast<uint64_t*>(y), n);
  return cudaGetLastError();
}

cudaError_t LaunchScale(float* y, int64_t n, float scale, cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  ScaleKernel<<<BlocksFor(n), kThreads, 0, stream>>>(y, n, scale);
  return cudaGetLastError();
}

template <typename T>
cudaError_t LaunchBroadcastMatrixOf(const T* c, int64_t row_stride, int64_t col_stride, T* y,
                                    int64_t m, int64_t n, cudaStream_t stream) {
  if (m * n == 0) return cudaSuccess;
  BroadcastMatrixKernel<T>
      <<<BlocksFor(m * n), kThreads, 0, stream>>>(c, row_stride, col_stride, y, m, n);
  return cudaGetLastError();
}

cudaError_t LaunchBroadcastMatrix(const float* c, int64_t row_stride, int64_t col_stride, float* y,
                                  int64_t m, int64_t n, cudaStream_t stream) {
  return LaunchBroadcastMatrixOf(c, row_stride, col_stride, y, m, n, stream);
}

cudaError_t LaunchBroadcastMatrixHalf(const uint16_t* c, int64_t row_stride, int64_t col_stride,
                                      uint16_t* y, int64_t m, int64_t n, cudaStream_t stream) {
  return LaunchBroadcastMatrixOf(c, row_stride, col_stride, y, m, n, stream);
}

cudaError_t LaunchReduceTo(const float* x, float* out, int64_t out_n, int64_t reduced_n,
                           const ReduceIndex& index, cudaStream_t stream) {
  if (out_n == 0) return cudaSuccess;
  ReduceToKernel<<<BlocksFor(out_n), kThreads, 0, stream>>>(x, out, out_n, reduced_n, index);
  return cudaGetLastError();
}

}  // namespace fleet::cuda
