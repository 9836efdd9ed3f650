// Sparse rows on the GPU: the row ids of an embedding's gradient, and their scatter into a dense
// buffer (the optimizers' merge of repeated ids, grad_sum's sparse parts).
#include "kernels/cuda/launch.h"
#include "kernels/cuda/launch_util.cuh"

namespace fleet::cuda {
namespace {

__global__ void RowIdsKernel(const void* indices, bool i64, int64_t n, int64_t height,
                             int64_t* ids) {
  for (int64_t i = GlobalThread(); i < n; i += GridStride()) {
    int64_t k =
        i64 ? static_cast<const int64_t*>(indices)[i] : static_cast<const int32_t*>(indices)[i];
    if (k < 0) k += height;
    ids[i] = k < 0 || k >= height ? -1 : k;
  }
}

__global__ void ScatterAddRowsKernel(const float* values, const int64_t* ids, int64_t n,
                                     int64_t width, int64_t height, float* dense,
                                     uint8_t* touched) {
  for (int64_t t = GlobalThread(); t < n * width; t += GridStride()) {
    const int64_t r = t / width, j = t % width;
    const int64_t id = ids[r];
    if (id < 0 || id >= height) continue;
    atomicAdd(dense + id * width + j, values[t]);
    if (touched != nullptr && j == 0) touched[id] = 1;
  }
}

}  // namespace

cudaError_t LaunchRowIds(const void* indices, bool indices_i64, int64_t n, int64_t height,
                         int64_t* ids, cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  RowIdsKernel<<<BlocksFor(n), kThreads, 0, stream>>>(indices, indices_i64, n, height, ids);
  return cudaGetLastError();
}

cudaError_t LaunchScatterAddRows(const float* values, const int64_t* ids, int64_t n,
                                 int64_t width, int64_t height, float* dense, uint8_t* touched,
                                 cudaStream_t stream) {
  if (n == 0 || width == 0) return cudaSuccess;
  ScatterAddRowsKernel<<<BlocksFor(n * width), kThreads, 0, stream>>>(values, ids, n, width,
                                                                      height, dense, touched);
  return cudaGetLastError();
}

}  // namespace fleet::cuda
