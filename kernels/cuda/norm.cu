// LayerNormalization and its gradient: one thread per row for the statistics, the output and
// the input gradient; one thread per column for the scale and bias gradients. Statistics sum
// in double.
#include <cmath>

#include "kernels/cuda/launch.h"
#include "kernels/cuda/launch_util.cuh"

namespace fleet::cuda {
namespace {

__device__ void RowStats(const float* x, int64_t d, double eps, float* mean, float* inv) {
  double sum = 0;
  for (int64_t j = 0; j < d; ++j) sum += x[j];
  const double m = d > 0 ? sum / static_cast<double>(d) : 0.0;
  double sq = 0;
  for (int64_t j = 0; j < d; ++j) sq += (x[j] - m) * (x[j] - m);
  const double var = d > 0 ? sq / static_cast<double>(d) : 0.0;
  *mean = static_cast<float>(m);
  *inv = static_cast<float>(1.0 / sqrt(var + eps));
}

__global__ void LayerNormKernel(const float* x, const float* scale, const float* bias, float* y,
                                float* mean, float* inv, int64_t rows, int64_t d, double eps) {
  for (int64_t r = GlobalThread(); r < rows; r += GridStride()) {
    const float* xr = x + r * d;
    float m, iv;
    RowStats(xr, d, eps, &m, &iv);
    float* yr = y + r * d;
    for (int64_t j = 0; j < d; ++j) {
      yr[j] = (xr[j] - m) * iv * scale[j] + (bias != nullptr ? bias[j] : 0.f);
    }
    if (mean != nullptr) mean[r] = m;
    if (inv != nullptr) inv[r] = iv;
  }
}

// dx = inv * (g - mean(g) - x^ * mean(g * x^)), g = dy * scale.
__global__ void LayerNormInputGradKernel(const float* x, const float* scale, const float* dy,
                                         float* dx, float* mean, float* inv, int64_t rows,
                                         int64_t d, double eps) {
  for (int64_t r = GlobalThread(); r < rows; r += GridStride()) {
    const float* xr = x + r * d;
    const float* dyr = dy + r * d;
    float m, iv;
    RowStats(xr, d, eps, &m, &iv);
    mean[r] = m;
    inv[r] = iv;
    if (dx == nullptr) continue;
    float sum_g = 0.f, sum_gx = 0.f;
    for (int64_t j = 0; j < d; ++j) {
      const float g = dyr[j] * scale[j];
      sum_g += g;
      sum_gx += g * (xr[j] - m) * iv;
    }
    const float a = sum_g / static_cast<float>(d), b = sum_gx / static_cast<float>(d);
    float* dxr = dx + r * d;
    for (int64_t j = 0; j < d; ++j) {
      const float h = (xr[j] - m) * iv;
      dxr[j] = iv * (dyr[j] * scale[j] - a - h * b);
    }
  }
}

__global__ void LayerNormParamGradKernel(const float* x, const float* dy, const float* mean,
                                         const float* inv, float* dscale, float* dbias,
                                         int64_t rows, int64_t d) {
  for (int64_t j = GlobalThread(); j < d; j += GridStride()) {
    float s = 0.f, b = 0.f;
    for (int64_t r = 0; r < rows; ++r) {
      const float g = dy[r * d + j];
      s += g * (x[r * d + j] - mean[r]) * inv[r];
      b += g;
    }
    if (dscale != nullptr) dscale[j] = s;
    if (dbias != nullptr) dbias[j] = b;
  }
}

}  // namespace

cudaError_t LaunchLayerNorm(const float* x, const float* scale, const float* bias, float* y,
                            float* mean, float* inv, int64_t rows, int64_t d, double eps,
                            cudaStream_t stream) {
  if (rows == 0) return cudaSuccess;
  LayerNormKernel<<<BlocksFor(rows), kThreads, 0, stream>>>(x, scale, bias, y, mean, inv, rows, d,
                                                            eps);
  return cudaGetLastError();
}

cudaError_t LaunchLayerNormGrad(const float* x, const float* scale, const float* dy, float* dx,
                                float* mean, float* inv, float* dscale, float* dbias, int64_t rows,
                                int64_t d, double eps, cudaStream_t stream) {
  if (rows > 0) {
    LayerNormInputGradKernel<<<BlocksFor(rows), kThreads, 0, stream>>>(x, scale, dy, dx, mean, inv,
                                                                       rows, d, eps);
    if (cudaError_t e = cudaGetLastError(); e != cudaSuccess) return e;
  }
  if ((dscale == nullptr && dbias == nullptr) || d == 0) return cudaSuccess;
  LayerNormParamGradKernel<<<BlocksFor(d), kThreads, 0, stream>>>(x, dy, mean, inv, dscale, dbias,
                                                                  rows, d);
  return cudaGetLastError();
}

}  // namespace fleet::cuda
