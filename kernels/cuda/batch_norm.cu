// Batch normalisation: training statistics and the gradient take one block per channel, which
// sums that channel's n * s elements in double (a shared-memory tree); inference is elementwise.
#include <cmath>

#include "kernels/cuda/launch.h"
#include "kernels/cuda/launch_util.cuh"

namespace fleet::cuda {
namespace {

// The sums of a and b over the block, in every thread. Every thread of the block calls it.
__device__ void BlockSum2(double* a, double* b) {
  __shared__ double sa[kThreads];
  __shared__ double sb[kThreads];
  sa[threadIdx.x] = *a;
  sb[threadIdx.x] = *b;
  __syncthreads();
  for (int half = blockDim.x / 2; half > 0; half /= 2) {
    if (threadIdx.x < half) {
      sa[threadIdx.x] += sa[threadIdx.x + half];
      sb[threadIdx.x] += sb[threadIdx.x + half];
    }
    __syncthreads();
  }
  *a = sa[0];
  *b = sb[0];
  __syncthreads();  // the arrays are reused by the next call
}

// Offset of element k (of n * s) of channel ch.
__device__ int64_t At(int64_t k, int64_t ch, int64_t c, int64_t s) {
  return ((k / s) * c + ch) * s + k % s;
}

__global__ void BatchNormTrainKernel(BatchNormTrain a) {
  const int64_t ch = blockIdx.x;
  const int64_t count = a.n * a.s;
  double sum = 0, unused = 0;
  for (int64_t k = threadIdx.x; k < count; k += blockDim.x) sum += a.x[At(k, ch, a.c, a.s)];
  BlockSum2(&sum, &unused);
  const float m = static_cast<float>(sum / static_cast<double>(count));
  double sq = 0;
  for (int64_t k = threadIdx.x; k < count; k += blockDim.x) {
    const double d = a.x[At(k, ch, a.c, a.s)] - m;
    sq += d * d;
  }
  BlockSum2(&sq, &unused);
  const double var = sq / static_cast<double>(count);
  const double inv = 1.0 / sqrt(var + a.epsilon);
  const float scale = static_cast<float>(a.scale[ch] * inv);
  const float shift = static_cast<float>(a.bias[ch] - m * a.scale[ch] * inv);
  for (int64_t k = threadIdx.x; k < count; k += blockDim.x) {
    const int64_t i = At(k, ch, a.c, a.s);
    a.y[i] = a.x[i] * scale + shift;
  }
  if (threadIdx.x != 0) return;
  const double unbiased = count > 1 ? sq / static_cast<double>(count - 1) : var;
  if (a.running_mean_out != nullptr) {
    a.running_mean_out[ch] =
        static_cast<float>(a.momentum * a.running_mean[ch] + (1.0 - a.momentum) * m);
  }
  if (a.running_var_out != nullptr) {
    a.running_var_out[ch] = static_cast<float>(a.momentum * a.running_var[ch] +
                                               (1.0 - a.momentum) * static_cast<float>(unbiased));
  }
  if (a.saved_mean != nullptr) a.saved_mean[ch] = m;
  if (a.saved_inv_std != nullptr) a.saved_inv_std[ch] = static_cast<float>(inv);
}

__global__ void BatchNormGradKernel(const float* x, const float* scale, const float* mean,
                                    const float* inv_std, const float* dy, float* dx, float* dscale,
                                    float* dbias, int64_t n, int64_t c, int64_t s) {
  const int64_t ch = blockIdx.x;
  const int64_t count = n * s;
  double sum_dy = 0, sum_dy_xc = 0;
  for (int64_t k = threadIdx.x; k < count; k += blockDim.x) {
    const int64_t i = At(k, ch, c, s);
    sum_dy += dy[i];
    sum_dy_xc += static_cast<double>(dy[i]) * (x[i] - mean[ch]);
  }
  BlockSum2(&sum_dy, &sum_dy_xc);
  if (threadIdx.x == 0) {
    if (dbias != nullptr) dbias[ch] = static_cast<float>(sum_dy);
    if (dscale != nullptr) dscale[ch] = static_cast<float>(sum_dy_xc * inv_std[ch]);
  }
  if (dx == nullptr || count == 0) return;
  const double inv = inv_std[ch];
  const double k1 = scale[ch] * inv;
  const double k2 = -k1 * inv * inv * sum_dy_xc / static_cast<double>(count);
  const double k3 = -k1 * sum_dy / static_cast<double>(count) - k2 * mean[ch];
  for (int64_t k = threadIdx.x; k < count; k += blockDim.x) {
    const int64_t i = At(k, ch, c, s);
    dx[i] = static_cast<float>(k1 * dy[i] + k2 * x[i] + k3);
  }
}

__global__ void BatchNormInferKernel(const float* x, const float* scale, const float* bias,
                                     const float* mean, const float* var, double epsilon, float* y,
                                     int64_t total, int64_t c, int64_t s) {
  for (int64_t i = GlobalThread(); i < total; i += GridStride()) {
    const int64_t ch = (i / s) % c;
    const double a = scale[ch] / sqrt(static_cast<double>(var[ch]) + epsilon);
    y[i] = x[i] * static_cast<float>(a) + static_cast<float>(bias[ch] - mean[ch] * a);
  }
}

}  // namespace

cudaError_t LaunchBatchNormTrain(const BatchNormTrain& args, cudaStream_t stream) {
  if (args.c == 0) return cudaSuccess;
  BatchNormTrainKernel<<<static_cast<unsigned int>(args.c), kThreads, 0, stream>>>(args);
  return cudaGetLastError();
}

cudaError_t LaunchBatchNormGrad(const float* x, const float* scale, const float* mean,
                                const float* inv_std, const float* dy, float* dx, float* dscale,
                                float* dbias, int64_t n, int64_t c, int64_t s,
                                cudaStream_t stream) {
  if (c == 0) return cudaSuccess;
  BatchNormGradKernel<<<static_cast<unsigned int>(c), kThreads, 0, stream>>>(
      x, scale, mean, inv_std, dy, dx, dscale, dbias, n, c, s);
  return cudaGetLastError();
}

cudaError_t LaunchBatchNormInfer(const float* x, const float* scale, const float* bias,
                                 const float* mean, const float* var, double epsilon, float* y,
                                 int64_t n, int64_t c, int64_t s, cudaStream_t stream) {
  const int64_t total = n * c * s;
  if (total == 0) return cudaSuccess;
  BatchNormInferKernel<<<BlocksFor(total), kThreads, 0, stream>>>(x, scale, bias, mean, var,
                                                                  epsilon, y, total, c, s);
  return cudaGetLastError();
}

}  // namespace fleet::cuda
