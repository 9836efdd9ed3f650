// 16-bit float element kernels of mixed-precision training, for f16 and bf16: the casts from and
// to f32, scaling, and Conv's bias with its gradient. The host stores both types as uint16_t bits
// (executor/half.h, ir/bfloat16.h); here they are CUDA's __half and __nv_bfloat16, and every sum
// and product runs in f32.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "kernels/cuda/launch.h"
#include "kernels/cuda/launch_util.cuh"

namespace fleet::cuda {
namespace {

// T's conversions: f16 and bf16 both round to nearest even.
template <typename T>
struct Float16Traits;
template <>
struct Float16Traits<__half> {
  __device__ static float Widen(__half v) { return __half2float(v); }
  __device__ static __half Narrow(float v) { return __float2half_rn(v); }
};
template <>
struct Float16Traits<__nv_bfloat16> {
  __device__ static float Widen(__nv_bfloat16 v) { return __bfloat162float(v); }
  __device__ static __nv_bfloat16 Narrow(float v) { return __float2bfloat16_rn(v); }
};

template <typename T>
__device__ inline const T* As(const uint16_t* p) {
  return reinterpret_cast<const T*>(p);
}
template <typename T>
__device__ inline T* As(uint16_t* p) {
  return reinterpret_cast<T*>(p);
}

template <typename T>
__global__ void FloatToHalfKernel(const float* x, uint16_t* y, int64_t n) {
  T* out = As<T>(y);
  for (int64_t i = GlobalThread(); i < n; i += GridStride()) {
    out[i] = Float16Traits<T>::Narrow(x[i]);
  }
}

template <typename T>
__global__ void HalfToFloatKernel(const uint16_t* x, float* y, int64_t n) {
  const T* in = As<T>(x);
  for (int64_t i = GlobalThread(); i < n; i += GridStride()) y[i] = Float16Traits<T>::Widen(in[i]);
}

template <typename T>
__global__ void ScaleHalfKernel(uint16_t* y, int64_t n, float scale) {
  T* h = As<T>(y);
  for (int64_t i = GlobalThread(); i < n; i += GridStride()) {
    h[i] = Float16Traits<T>::Narrow(Float16Traits<T>::Widen(h[i]) * scale);
  }
}

template <typename T>
__global__ void BiasAddHalfKernel(const uint16_t* bias, uint16_t* y, int64_t total, int64_t c,
                                  int64_t s) {
  const T* b = As<T>(bias);
  T* h = As<T>(y);
  for (int64_t i = GlobalThread(); i < total; i += GridStride()) {
    h[i] = Float16Traits<T>::Narrow(Float16Traits<T>::Widen(h[i]) +
                                    Float16Traits<T>::Widen(b[(i / s) % c]));
  }
}

// Channel blockIdx.x: its n * s elements summed by the block (a shared-memory tree).
template <typename T>
__global__ void BiasGradHalfKernel(const uint16_t* dy, uint16_t* db, int64_t n, int64_t c,
                                   int64_t s) {
  __shared__ float partial[kThreads];
  const T* g = As<T>(dy);
  const int64_t ch = blockIdx.x;
  const int64_t count = n * s;
  float sum = 0.f;
  for (int64_t k = threadIdx.x; k < count; k += blockDim.x) {
    sum += Float16Traits<T>::Widen(g[((k / s) * c + ch) * s + k % s]);
  }
  partial[threadIdx.x] = sum;
  __syncthreads();
  for (int step = blockDim.x / 2; step > 0; step /= 2) {
    if (threadIdx.x < step) partial[threadIdx.x] += partial[threadIdx.x + step];
    __syncthreads();
  }
  if (threadIdx.x == 0) As<T>(db)[ch] = Float16Traits<T>::Narrow(partial[0]);
}

// Calls `launch` with a value of the CUDA type that `type` names.
template <typename Launch>
cudaError_t WithType(HalfType type, Launch launch) {
  return type == HalfType::kBF16 ? launch(__nv_bfloat16()) : launch(__half());
}

}  // namespace

cudaError_t LaunchFloatToHalf(HalfType type, const float* x, uint16_t* y, int64_t n,
                              cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  return WithType(type, [&](auto tag) {
    FloatToHalfKernel<decltype(tag)><<<BlocksFor(n), kThreads, 0, stream>>>(x, y, n);
    return cudaGetLastError();
  });
}

cudaError_t LaunchHalfToFloat(HalfType type, const uint16_t* x, float* y, int64_t n,
                              cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  return WithType(type, [&](auto tag) {
    HalfToFloatKernel<decltype(tag)><<<BlocksFor(n), kThreads, 0, stream>>>(x, y, n);
    return cudaGetLastError();
  });
}

cudaError_t LaunchScaleHalf(HalfType type, uint16_t* y, int64_t n, float scale,
                            cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  return WithType(type, [&](auto tag) {
    ScaleHalfKernel<decltype(tag)><<<BlocksFor(n), kThreads, 0, stream>>>(y, n, scale);
    return cudaGetLastError();
  });
}

cudaError_t LaunchBiasAddHalf(HalfType type, const uint16_t* bias, uint16_t* y, int64_t n,
                              int64_t c, int64_t s, cudaStream_t stream) {
  const int64_t total = n * c * s;
  if (total == 0) return cudaSuccess;
  return WithType(type, [&](auto tag) {
    BiasAddHalfKernel<decltype(tag)>
        <<<BlocksFor(total), kThreads, 0, stream>>>(bias, y, total, c, s);
    return cudaGetLastError();
  });
}

cudaError_t LaunchBiasGradHalf(HalfType type, const uint16_t* dy, uint16_t* db, int64_t n,
                               int64_t c, int64_t s, cudaStream_t stream) {
  if (c == 0) return cudaSuccess;
  return WithType(type, [&](auto tag) {
    BiasGradHalfKernel<decltype(tag)>
        <<<static_cast<unsigned int>(c), kThreads, 0, stream>>>(dy, db, n, c, s);
    return cudaGetLastError();
  });
}

}  // namespace fleet::cuda
