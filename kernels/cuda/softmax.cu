// Softmax and LogSoftmax along one axis, and their gradients: one thread per (outer, inner)
// position walks the n elements along the axis (inner apart), max-shifted like
// kernels/cpu/softmax.cc.
#include <cmath>

#include "kernels/cuda/launch.h"
#include "kernels/cuda/launch_util.cuh"

namespace fleet::cuda {
namespace {

__global__ void SoftmaxKernel(const float* x, float* y, int64_t outer, int64_t n, int64_t inner,
                              bool log) {
  for (int64_t p = GlobalThread(); p < outer * inner; p += GridStride()) {
    const int64_t offset = (p / inner) * n * inner + p % inner;
    const float* xr = x + offset;
    float* yr = y + offset;
    float m = -INFINITY;
    for (int64_t k = 0; k < n; ++k) m = fmaxf(m, xr[k * inner]);
    float s = 0.f;
    for (int64_t k = 0; k < n; ++k) s += expf(xr[k * inner] - m);
    if (log) {
      const float ls = logf(s);
      for (int64_t k = 0; k < n; ++k) yr[k * inner] = (xr[k * inner] - m) - ls;
    } else {
      const float inv = 1.f / s;
      for (int64_t k = 0; k < n; ++k) yr[k * inner] = expf(xr[k * inner] - m) * inv;
    }
  }
}

__global__ void SoftmaxGradKernel(const float* y, const float* dy, float* dx, int64_t outer,
                                  int64_t n, int64_t inner, bool log) {
  for (int64_t p = GlobalThread(); p < outer * inner; p += GridStride()) {
    const int64_t offset = (p / inner) * n * inner + p % inner;
    const float* yr = y + offset;
    const float* dyr = dy + offset;
    float* dxr = dx + offset;
    float s = 0.f;
    for (int64_t k = 0; k < n; ++k) s += log ? dyr[k * inner] : dyr[k * inner] * yr[k * inner];
    for (int64_t k = 0; k < n; ++k) {
      const int64_t i = k * inner;
      dxr[i] = log ? dyr[i] - expf(yr[i]) * s : yr[i] * (dyr[i] - s);
    }
  }
}

}  // namespace

cudaError_t LaunchSoftmax(const float* x, float* y, int64_t outer, int64_t n, int64_t inner,
                          bool log, cudaStream_t stream) {
  if (outer * n * inner == 0) return cudaSuccess;
  SoftmaxKernel<<<BlocksFor(outer * inner), kThreads, 0, stream>>>(x, y, outer, n, inner, log);
  return cudaGetLastError();
}

cudaError_t LaunchSoftmaxGrad(const float* y, const float* dy, float* dx, int64_t outer, int64_t n,
                              int64_t inner, bool log, cudaStream_t stream) {
  if (outer * n * inner == 0) return cudaSuccess;
  SoftmaxGradKernel<<<BlocksFor(outer * inner), kThreads, 0, stream>>>(y, dy, dx, outer, n, inner,
                                                                       log);
  return cudaGetLastError();
}

}  // namespace fleet::cuda
