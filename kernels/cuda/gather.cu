// Gather along one axis and its dense gradient: one thread per output (gradient) element.
#include <cmath>

#include "kernels/cuda/launch.h"
#include "kernels/cuda/launch_util.cuh"

namespace fleet::cuda {
namespace {

// Index i, counted from the end when negative; -1 when outside [-dim, dim).
__device__ int64_t IndexAt(const void* indices, bool i64, int64_t i, int64_t dim) {
  int64_t k =
      i64 ? static_cast<const int64_t*>(indices)[i] : static_cast<const int32_t*>(indices)[i];
  if (k < 0) k += dim;
  return k < 0 || k >= dim ? -1 : k;
}

__global__ void GatherKernel(const float* data, const void* indices, bool i64, float* out,
                             int64_t outer, int64_t dim, int64_t n, int64_t row) {
  for (int64_t t = GlobalThread(); t < outer * n * row; t += GridStride()) {
    const int64_t o = t / (n * row), i = (t / row) % n, r = t % row;
    const int64_t k = IndexAt(indices, i64, i, dim);
    out[t] = k < 0 ? NAN : data[(o * dim + k) * row + r];
  }
}

__global__ void GatherGradKernel(const float* dy, const void* indices, bool i64, float* dx,
                                 int64_t outer, int64_t dim, int64_t n, int64_t row) {
  for (int64_t t = GlobalThread(); t < outer * n * row; t += GridStride()) {
    const int64_t o = t / (n * row), i = (t / row) % n, r = t % row;
    const int64_t k = IndexAt(indices, i64, i, dim);
    if (k >= 0) atomicAdd(dx + (o * dim + k) * row + r, dy[t]);
  }
}

}  // namespace

cudaError_t LaunchGather(const float* data, const void* indices, bool indices_i64, float* out,
                         int64_t outer, int64_t dim, int64_t n, int64_t row, cudaStream_t stream) {
  const int64_t total = outer * n * row;
  if (total == 0) return cudaSuccess;
  GatherKernel<<<BlocksFor(total), kThreads, 0, stream>>>(data, indices, indices_i64, out, outer,
                                                          dim, n, row);
  return cudaGetLastError();
}

cudaError_t LaunchGatherGrad(const float* dy, const void* indices, bool indices_i64, float* dx,
                             int64_t outer, int64_t dim, int64_t n, int64_t row,
                             cudaStream_t stream) {
  const int64_t size = outer * dim * row;
  if (size == 0) return cudaSuccess;
  if (cudaError_t e = cudaMemsetAsync(dx, 0, sizeof(float) * size, stream); e != cudaSuccess) {
    return e;
  }
  const int64_t total = outer * n * row;
  if (total == 0) return cudaSuccess;
  GatherGradKernel<<<BlocksFor(total), kThreads, 0, stream>>>(dy, indices, indices_i64, dx, outer,
                                                              dim, n, row);
  return cudaGetLastError();
}

}  // namespace fleet::cuda
