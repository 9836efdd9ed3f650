// f16 element kernels of mixed-precision training: the casts between f32 and f16, scaling,
// Gemm's broadcast C and Conv's bias with its gradient. The host stores f16 as uint16_t bits
// (executor/half.h); here they are CUDA's __half, and every sum and product runs in f32.
#include <cuda_fp16.h>

#include "kernels/cuda/launch.h"
#include "kernels/cuda/launch_util.cuh"

namespace fleet::cuda {
namespace {

__device__ inline const __half* AsHalf(const uint16_t* p) {
  return reinterpret_cast<const __half*>(p);
}
__device__ inline __half* AsHalf(uint16_t* p) { return reinterpret_cast<__half*>(p); }

__global__ void FloatToHalfKernel(const float* x, uint16_t* y, int64_t n) {
  __half* out = AsHalf(y);
  for (int64_t i = GlobalThread(); i < n; i += GridStride()) out[i] = __float2half_rn(x[i]);
}

__global__ void HalfToFloatKernel(const uint16_t* x, float* y, int64_t n) {
  const __half* in = AsHalf(x);
  for (int64_t i = GlobalThread(); i < n; i += GridStride()) y[i] = __half2float(in[i]);
}

__global__ void ScaleHalfKernel(uint16_t* y, int64_t n, float scale) {
  __half* h = AsHalf(y);
  for (int64_t i = GlobalThread(); i < n; i += GridStride()) {
    h[i] = __float2half_rn(__half2float(h[i]) * scale);
  }
}

__global__ void BiasAddHalfKernel(const uint16_t* bias, uint16_t* y, int64_t total, int64_t c,
                                  int64_t s) {
  const __half* b = AsHalf(bias);
  __half* h = AsHalf(y);
  for (int64_t i = GlobalThread(); i < total; i += GridStride()) {
    h[i] = __float2half_rn(__half2float(h[i]) + __half2float(b[(i / s) % c]));
  }
}

// Channel blockIdx.x: its n * s elements summed by the block (a shared-memory tree).
__global__ void BiasGradHalfKernel(const uint16_t* dy, uint16_t* db, int64_t n, int64_t c,
                                   int64_t s) {
  __shared__ float partial[kThreads];
  const __half* g = AsHalf(dy);
  const int64_t ch = blockIdx.x;
  const int64_t count = n * s;
  float sum = 0.f;
  for (int64_t k = threadIdx.x; k < count; k += blockDim.x) {
    sum += __half2float(g[((k / s) * c + ch) * s + k % s]);
  }
  partial[threadIdx.x] = sum;
  __syncthreads();
  for (int step = blockDim.x / 2; step > 0; step /= 2) {
    if (threadIdx.x < step) partial[threadIdx.x] += partial[threadIdx.x + step];
    __syncthreads();
  }
  if (threadIdx.x == 0) AsHalf(db)[ch] = __float2half_rn(partial[0]);
}

}  // namespace

cudaError_t LaunchFloatToHalf(const float* x, uint16_t* y, int64_t n, cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  FloatToHalfKernel<<<BlocksFor(n), kThreads, 0, stream>>>(x, y, n);
  return cudaGetLastError();
}

cudaError_t LaunchHalfToFloat(const uint16_t* x, float* y, int64_t n, cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  HalfToFloatKernel<<<BlocksFor(n), kThreads, 0, stream>>>(x, y, n);
  return cudaGetLastError();
}

cudaError_t LaunchScaleHalf(uint16_t* y, int64_t n, float scale, cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  ScaleHalfKernel<<<BlocksFor(n), kThreads, 0, stream>>>(y, n, scale);
  return cudaGetLastError();
}

cudaError_t LaunchBiasAddHalf(const uint16_t* bias, uint16_t* y, int64_t n, int64_t c, int64_t s,
                              cudaStream_t stream) {
  const int64_t total = n * c * s;
  if (total == 0) return cudaSuccess;
  BiasAddHalfKernel<<<BlocksFor(total), kThreads, 0, stream>>>(bias, y, total, c, s);
  return cudaGetLastError();
}

cudaError_t LaunchBiasGradHalf(const uint16_t* dy, uint16_t* db, int64_t n, int64_t c, int64_t s,
                               cudaStream_t stream) {
  if (c == 0) return cudaSuccess;
  BiasGradHalfKernel<<<static_cast<unsigned int>(c), kThreads, 0, stream>>>(dy, db, n, c, s);
  return cudaGetLastError();
}

}  // namespace fleet::cuda
