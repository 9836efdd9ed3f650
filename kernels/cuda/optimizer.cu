// Optimizer updates, one thread per parameter element, with the learning rate (and Adam's
// beta powers) read from device memory: the formulas of kernels/cpu/optimizer.cc, in f32. A
// RowMask limits an update to the rows a sparse gradient touched (lazy updates). The
// multi-tensor launch updates up to kMultiTensors parameters at once with the same formulas.
#include <cmath>

#include "kernels/cuda/launch.h"
#include "kernels/cuda/launch_util.cuh"

namespace fleet::cuda {
namespace {

// Whether element i is outside the rows the update touches.
__device__ inline bool Skipped(const RowMask& rows, int64_t i) {
  return rows.touched != nullptr && rows.touched[i / rows.width] == 0;
}

// One element's update by each formula; the single and the multi-tensor kernels share them.
__device__ inline void SgdStep(float& p, float g, float rate, float wd) {
  p -= rate * (g + wd * p);
}

__device__ inline void MomentumStep(float& p, float& v, float g, float rate, float mu, float wd,
                                    bool nesterov) {
  const float gi = g + wd * p;
  const float vi = mu * v + gi;
  v = vi;
  p -= rate * (nesterov ? gi + mu * vi : vi);
}

// What an Adam step needs beyond the element: from the learning rate and the beta powers.
struct AdamStepScalars {
  float decay, l2, step_size, inv_sqrt_bc2;
};

__device__ inline AdamStepScalars AdamScalars(const AdamParams& a, float rate, float b1p,
                                              float b2p) {
  return {a.decoupled ? 1.f - rate * a.weight_decay : 1.f, a.decoupled ? 0.f : a.weight_decay,
          rate / (1.f - b1p), 1.f / sqrtf(1.f - b2p)};
}

__device__ inline void AdamStep(float& p, float& m, float& v, float g, const AdamParams& a,
                                const AdamStepScalars& k) {
  const float pi = a.decoupled ? p * k.decay : p;
  const float gi = g + k.l2 * pi;
  const float mi = a.beta1 * m + (1.f - a.beta1) * gi;
  const float vi = a.beta2 * v + (1.f - a.beta2) * gi * gi;
  m = mi;
  v = vi;
  p = pi - k.step_size * mi / (sqrtf(vi) * k.inv_sqrt_bc2 + a.epsilon);
}

__device__ inline void AdagradStep(float& p, float& s, float g, float rate, float epsilon,
                                   float wd) {
  const float gi = g + wd * p;
  const float si = s + gi * gi;
  s = si;
  p -= rate * gi / (sqrtf(si) + epsilon);
}

__global__ void SgdKernel(float* p, const float* g, const float* lr, float wd, int64_t n,
                          RowMask rows) {
  const float rate = lr[0];
  for (int64_t i = GlobalThread(); i < n; i += GridStride()) {
    if (!Skipped(rows, i)) SgdStep(p[i], g[i], rate, wd);
  }
}

__global__ void MomentumKernel(float* p, float* v, const float* g, const float* lr, float mu,
                               float wd, bool nesterov, int64_t n, RowMask rows) {
  const float rate = lr[0];
  for (int64_t i = GlobalThread(); i < n; i += GridStride()) {
    if (!Skipped(rows, i)) MomentumStep(p[i], v[i], g[i], rate, mu, wd, nesterov);
  }
}

__global__ void AdamKernel(float* p, float* m, float* v, const float* g, const float* lr,
                           const float* b1p, const float* b2p, AdamParams a, int64_t n,
                           RowMask rows) {
  const AdamStepScalars k = AdamScalars(a, lr[0], b1p[0], b2p[0]);
  for (int64_t i = GlobalThread(); i < n; i += GridStride()) {
    if (!Skipped(rows, i)) AdamStep(p[i], m[i], v[i], g[i], a, k);
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
    if (!Skipped(rows, i)) AdagradStep(p[i], s[i], g[i], rate, epsilon, wd);
  }
}

// Tensor blockIdx.y of `t`, its elements spread over the blocks along x.
__global__ void MultiUpdateKernel(UpdateKind kind, MultiTensors t, const float* lr,
                                  UpdateParams u) {
  const int j = blockIdx.y;
  const int64_t n = t.n[j];
  float* p = t.p[j];
  const float* g = t.g[j];
  const float rate = lr[0];
  const int64_t first = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  switch (kind) {
    case UpdateKind::kSgd:
      for (int64_t i = first; i < n; i += stride) SgdStep(p[i], g[i], rate, u.weight_decay);
      break;
    case UpdateKind::kMomentum:
      for (int64_t i = first; i < n; i += stride) {
        MomentumStep(p[i], t.state[0][j][i], g[i], rate, u.mu, u.weight_decay, u.nesterov);
      }
      break;
    case UpdateKind::kAdam: {
      const AdamStepScalars k = AdamScalars(u.adam, rate, t.state[2][j][0], t.state[3][j][0]);
      for (int64_t i = first; i < n; i += stride) {
        AdamStep(p[i], t.state[0][j][i], t.state[1][j][i], g[i], u.adam, k);
      }
      break;
    }
    case UpdateKind::kAdagrad:
      for (int64_t i = first; i < n; i += stride) {
        AdagradStep(p[i], t.state[0][j][i], g[i], rate, u.epsilon, u.weight_decay);
      }
      break;
  }
}

// Every Adam tensor's beta powers, one thread each.
__global__ void MultiAdvancePowersKernel(MultiTensors t, float beta1, float beta2) {
  const int j = threadIdx.x;
  if (j >= t.count) return;
  t.state[2][j][0] *= beta1;
  t.state[3][j][0] *= beta2;
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
  AdagradKernel<<<BlocksFor(n), kThreads, 0, stream>>>(p, s, g, lr, epsilon, weight_decay, n, rows);
  return cudaGetLastError();
}

cudaError_t LaunchMultiUpdate(UpdateKind kind, const MultiTensors& tensors, const float* lr,
                              const UpdateParams& params, cudaStream_t stream) {
  if (tensors.count <= 0) return cudaSuccess;
  int64_t largest = 0;
  for (int j = 0; j < tensors.count; ++j) largest = tensors.n[j] > largest ? tensors.n[j] : largest;
  if (largest > 0) {
    const dim3 grid(BlocksFor(largest), static_cast<unsigned int>(tensors.count));
    MultiUpdateKernel<<<grid, kThreads, 0, stream>>>(kind, tensors, lr, params);
    if (cudaError_t e = cudaGetLastError(); e != cudaSuccess) return e;
  }
  if (kind == UpdateKind::kAdam) {
    MultiAdvancePowersKernel<<<1, kMultiTensors, 0, stream>>>(tensors, params.adam.beta1,
                                                              params.adam.beta2);
  }
  return cudaGetLastError();
}

}  // namespace fleet::cuda
