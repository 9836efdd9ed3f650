// Optimizer updates, one thread per parameter element, with the learning rate (and Adam's
// beta powers) read from device memory: the formulas of kernels/cpu/optimizer.cc, in f32. A
// RowMask limits an update to the rows a sparse gradient touched (lazy updates).
#include <cmath>

#include "kernels/cuda/launch.h"
#include "kernels/cuda/launch_util.cuh"

namespace fleet::cuda {
namespace {

// Whether element i is outside the rows the update touches.
__device__ inline bool Skipped(const RowMask& rows, int64_t i) {
  return rows.touched != nullptr && rows.touched[i / rows.width] == 0;
}

__global__ void SgdKernel(float* p, const float* g, const float* lr, float wd, int64_t n,
                          RowMask rows) {
  const float rate = lr[0];
  for (int64_t i = GlobalThread(); i < n; i += GridStride()) {
    if (Skipped(rows, i)) continue;
    p[i] -= rate * (g[i] + wd * p[i]);
  }
}

__global__ void MomentumKernel(float* p, float* v, const float* g, const float* lr, float mu,
                               float wd, bool nesterov, int64_t n, RowMask rows) {
  const float rate = lr[0];
  for (int64_t i = GlobalThread(); i < n; i += GridStride()) {
    if (Skipped(rows, i)) continue;
    const float gi = g[i] + wd * p[i];
    const float vi = mu * v[i] + gi;
    v[i] = vi;
    p[i] -= rate * (nesterov ? gi + mu * vi : vi);
  }
}

__global__ void AdamKernel(float* p, float* m, float* v, const float* g, const float* lr,
                           const float* b1p, const float* b2p, AdamParams a, int64_t n,
                           RowMask rows) {
  const float rate = lr[0];
  const float decay = a.decoupled ? 1.f - rate * a.weight_decay : 1.f;
  const float l2 = a.decoupled ? 0.f : a.weight_decay;
  const float step_size = rate / (1.f - b1p[0]);
  const float inv_sqrt_bc2 = 1.f / sqrtf(1.f - b2p[0]);
  for (int64_t i = GlobalThread(); i < n; i += GridStride()) {
    if (Skipped(rows, i)) continue;
    const float pi = a.decoupled ? p[i] * decay : p[i];
    const float gi = g[i] + l2 * pi;
    const float mi = a.beta1 * m[i] + (1.f - a.beta1) * gi;
    const float vi = a.beta2 * v[i] + (1.f - a.beta2) * gi * gi;
    m[i] = mi;
    v[i] = vi;
    p[i] = pi - step_size * mi / (sqrtf(vi) * inv_sqrt_bc2 + a.epsilon);
  }
}

__global__ void AdvancePowersKernel(float* b1p, float* b2p, float beta1, float beta2) {
  b1p[0] *= beta1;
  b2p[0] *= beta2;
}

__global__ void AdagradKernel(float* p, float* s, const float* g, const float* lr, float epsilon,
                              float wd, int64_t n, RowMask rows) {
  const float rate = lr[0];
  for (int64_t i = GlobalThread(); i < n; i += GridStride()) {
    if (Skipped(rows, i)) continue;
    const float gi = g[i] + wd * p[i];
    const float si = s[i] + gi * gi;
    s[i] = si;
    p[i] -= rate * gi / (sqrtf(si) + epsilon);
  }
}

}  // namespace

cudaError_t LaunchSgd(float* p, const float* g, const float* lr, float weight_decay, int64_t n,
                      const RowMask& rows, cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  SgdKernel<<<BlocksFor(n), kThreads, 0, stream>>>(p, g, lr, weight_decay, n, rows);
  return cudaGetLastError();
}

cudaError_t LaunchMomentum(float* p, float* v, const float* g, const float* lr, float mu,
                           float weight_decay, bool nesterov, int64_t n, const RowMask& rows,
                           cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  MomentumKernel<<<BlocksFor(n), kThreads, 0, stream>>>(p, v, g, lr, mu, weight_decay, nesterov, n,
                                                        rows);
  return cudaGetLastError();
}

cudaError_t LaunchAdam(float* p, float* m, float* v, const float* g, const float* lr, float* b1p,
                       float* b2p, const AdamParams& params, int64_t n, const RowMask& rows,
                       cudaStream_t stream) {
  if (n > 0) {
    AdamKernel<<<BlocksFor(n), kThreads, 0, stream>>>(p, m, v, g, lr, b1p, b2p, params, n, rows);
    if (cudaError_t e = cudaGetLastError(); e != cudaSuccess) return e;
  }
  AdvancePowersKernel<<<1, 1, 0, stream>>>(b1p, b2p, params.beta1, params.beta2);
  return cudaGetLastError();
}

cudaError_t LaunchAdagrad(float* p, float* s, const float* g, const float* lr, float epsilon,
                          float weight_decay, int64_t n, const RowMask& rows, cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  AdagradKernel<<<BlocksFor(n), kThreads, 0, stream>>>(p, s, g, lr, epsilon, weight_decay, n,
                                                       rows);
  return cudaGetLastError();
}

}  // namespace fleet::cuda
