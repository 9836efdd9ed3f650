// SoftmaxCrossEntropyLoss and its gradient: one thread per position (n, d) walks that position's
// classes (max, then the sum of exponentials, then the output), so positions never share data;
// the reduction to one loss is a single block summing in double.
#include <cmath>

#include "kernels/cuda/launch.h"
#include "kernels/cuda/launch_util.cuh"

namespace fleet::cuda {
namespace {

// The class of position p, -1 where ignored, -2 where out of range.
__device__ int64_t ClassAt(const SoftmaxCe& a, int64_t p) {
  const int64_t t = a.labels_i64 ? static_cast<const int64_t*>(a.labels)[p]
                                 : static_cast<const int32_t*>(a.labels)[p];
  if (a.has_ignore && t == a.ignore_index) return -1;
  return t < 0 || t >= a.c ? -2 : t;
}

// m = the max over the classes of position (n, j), returns log(sum(exp(x - m))).
__device__ float LogSumExp(const float* x, int64_t c, int64_t d, float* m_out) {
  float m = -INFINITY;
  for (int64_t k = 0; k < c; ++k) m = fmaxf(m, x[k * d]);
  float s = 0.f;
  for (int64_t k = 0; k < c; ++k) s += expf(x[k * d] - m);
  *m_out = m;
  return logf(s);
}

__global__ void SoftmaxCeLossKernel(SoftmaxCe a, float* loss, float* weight, float* log_prob) {
  for (int64_t p = GlobalThread(); p < a.n * a.d; p += GridStride()) {
    const int64_t n = p / a.d, j = p % a.d;
    const float* x = a.x + n * a.c * a.d + j;
    float m;
    const float ls = LogSumExp(x, a.c, a.d, &m);
    if (log_prob != nullptr) {
      float* out = log_prob + n * a.c * a.d + j;
      for (int64_t k = 0; k < a.c; ++k) out[k * a.d] = (x[k * a.d] - m) - ls;
    }
    const int64_t t = ClassAt(a, p);
    if (t == -2) {
      loss[p] = NAN;
      weight[p] = NAN;
    } else if (t == -1) {
      loss[p] = 0.f;
      weight[p] = 0.f;
    } else {
      const float w = a.weights != nullptr ? a.weights[t] : 1.f;
      loss[p] = (ls - (x[t * a.d] - m)) * w;
      weight[p] = w;
    }
  }
}

__global__ void SumRatioKernel(const float* num, const float* den, int64_t n, float* out) {
  __shared__ double sums[kThreads];
  __shared__ double dens[kThreads];
  double s = 0, w = 0;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
    s += static_cast<double>(num[i]);
    if (den != nullptr) w += static_cast<double>(den[i]);
  }
  sums[threadIdx.x] = s;
  dens[threadIdx.x] = w;
  __syncthreads();
  for (int half = blockDim.x / 2; half > 0; half /= 2) {
    if (threadIdx.x < half) {
      sums[threadIdx.x] += sums[threadIdx.x + half];
      dens[threadIdx.x] += dens[threadIdx.x + half];
    }
    __syncthreads();
  }
  if (threadIdx.x == 0) out[0] = static_cast<float>(den != nullptr ? sums[0] / dens[0] : sums[0]);
}

__global__ void SoftmaxCeGradKernel(SoftmaxCe a, const float* dout, bool per_position,
                                    const float* weight_sum, const float* lpg, float* dx) {
  for (int64_t p = GlobalThread(); p < a.n * a.d; p += GridStride()) {
    const int64_t n = p / a.d, j = p % a.d;
    const int64_t offset = n * a.c * a.d + j;
    const float* x = a.x + offset;
    float* out = dx + offset;
    const float* l = lpg != nullptr ? lpg + offset : nullptr;
    const int64_t t = ClassAt(a, p);
    float coeff = 0.f;
    if (t == -2) {
      coeff = NAN;
    } else if (t >= 0 && dout != nullptr) {
      float scale = per_position ? dout[p] : dout[0];
      if (weight_sum != nullptr) scale = weight_sum[0] == 0.f ? 0.f : scale / weight_sum[0];
      coeff = (a.weights != nullptr ? a.weights[t] : 1.f) * scale;
    }
    float q = 0.f;
    if (l != nullptr) {
      for (int64_t k = 0; k < a.c; ++k) q += l[k * a.d];
    }
    float m;
    const float ls = LogSumExp(x, a.c, a.d, &m);
    const float shift = m + ls;  // p = exp(x - shift)
    for (int64_t k = 0; k < a.c; ++k) {
      float g = expf(x[k * a.d] - shift) * (coeff - q);
      if (l != nullptr) g += l[k * a.d];
      if (k == t) g -= coeff;
      out[k * a.d] = g;
    }
  }
}

}  // namespace

cudaError_t LaunchSoftmaxCeLoss(const SoftmaxCe& args, float* loss, float* weight, float* log_prob,
                                cudaStream_t stream) {
  const int64_t positions = args.n * args.d;
  if (positions == 0) return cudaSuccess;
  SoftmaxCeLossKernel<<<BlocksFor(positions), kThreads, 0, stream>>>(args, loss, weight, log_prob);
  return cudaGetLastError();
}

cudaError_t LaunchSumRatio(const float* num, const float* den, int64_t n, float* out,
                           cudaStream_t stream) {
  SumRatioKernel<<<1, kThreads, 0, stream>>>(num, den, n, out);
  return cudaGetLastError();
}

cudaError_t LaunchSoftmaxCeGrad(const SoftmaxCe& args, const float* dout, bool per_position,
                                const float* weight_sum, const float* log_prob_grad, float* dx,
                                cudaStream_t stream) {
  const int64_t positions = args.n * args.d;
  if (positions == 0 || args.c == 0) return cudaSuccess;
  SoftmaxCeGradKernel<<<BlocksFor(positions), kThreads, 0, stream>>>(args, dout, per_position,
                                                                     weight_sum, log_prob_grad, dx);
  return cudaGetLastError();
}

}  // namespace fleet::cuda
