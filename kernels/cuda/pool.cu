// MaxPool and its gradient (one thread per output element, scanning its window in the order of
// kernels/cpu/pool.cc, so ties pick the same first maximum), and the global average pool and its
// gradient.
#include <cmath>

#include "kernels/cuda/launch.h"
#include "kernels/cuda/launch_util.cuh"

namespace fleet::cuda {
namespace {

// The flat index in x of output `o`'s first maximum (-1 for a window with no in-bounds tap).
__device__ int64_t ArgMaxOfWindow(const float* x, const PoolGeometry& g, int64_t o) {
  const int64_t out_plane = g.out[0] * g.out[1] * g.out[2];
  const int64_t in_plane = g.in[0] * g.in[1] * g.in[2];
  const int64_t plane = o / out_plane;
  int64_t rest = o % out_plane;
  int64_t start[3];
  for (int d = 2; d >= 0; --d) {
    start[d] = (rest % g.out[d]) * g.stride[d] - g.pad_begin[d];
    rest /= g.out[d];
  }
  const float* xp = x + plane * in_plane;
  int64_t best = -1;
  for (int64_t a = 0; a < g.kernel[0]; ++a) {
    const int64_t i0 = start[0] + a * g.dilation[0];
    if (i0 < 0 || i0 >= g.in[0]) continue;
    for (int64_t b = 0; b < g.kernel[1]; ++b) {
      const int64_t i1 = start[1] + b * g.dilation[1];
      if (i1 < 0 || i1 >= g.in[1]) continue;
      for (int64_t c = 0; c < g.kernel[2]; ++c) {
        const int64_t i2 = start[2] + c * g.dilation[2];
        if (i2 < 0 || i2 >= g.in[2]) continue;
        const int64_t i = (i0 * g.in[1] + i1) * g.in[2] + i2;
        if (best < 0 || xp[i] > xp[best]) best = i;
      }
    }
  }
  return best < 0 ? -1 : plane * in_plane + best;
}

__global__ void MaxPoolKernel(const float* x, float* y, int64_t* indices, PoolGeometry g,
                              int64_t n) {
  for (int64_t o = GlobalThread(); o < n; o += GridStride()) {
    const int64_t best = ArgMaxOfWindow(x, g, o);
    y[o] = best < 0 ? -INFINITY : x[best];
    if (indices != nullptr) indices[o] = best;
  }
}

// Windows overlap when the stride is below the kernel, so the shares are added atomically.
__global__ void MaxPoolGradKernel(const float* x, const float* dy, float* dx, PoolGeometry g,
                                  int64_t n) {
  for (int64_t o = GlobalThread(); o < n; o += GridStride()) {
    const int64_t best = ArgMaxOfWindow(x, g, o);
    if (best >= 0) atomicAdd(dx + best, dy[o]);
  }
}

__global__ void GlobalAvgPoolKernel(const float* x, float* y, int64_t nc, int64_t spatial) {
  for (int64_t q = GlobalThread(); q < nc; q += GridStride()) {
    double sum = 0;
    for (int64_t i = 0; i < spatial; ++i) sum += x[q * spatial + i];
    y[q] = spatial > 0 ? static_cast<float>(sum / static_cast<double>(spatial)) : 0.f;
  }
}

__global__ void GlobalAvgPoolGradKernel(const float* dy, float* dx, int64_t nc, int64_t spatial) {
  for (int64_t i = GlobalThread(); i < nc * spatial; i += GridStride()) {
    dx[i] = dy[i / spatial] / static_cast<float>(spatial);
  }
}

int64_t OutCount(const PoolGeometry& g) { return g.n * g.c * g.out[0] * g.out[1] * g.out[2]; }

}  // namespace

cudaError_t LaunchMaxPool(const float* x, float* y, int64_t* indices, const PoolGeometry& g,
                          cudaStream_t stream) {
  const int64_t n = OutCount(g);
  if (n == 0) return cudaSuccess;
  MaxPoolKernel<<<BlocksFor(n), kThreads, 0, stream>>>(x, y, indices, g, n);
  return cudaGetLastError();
}

cudaError_t LaunchMaxPoolGrad(const float* x, const float* dy, float* dx, const PoolGeometry& g,
                              cudaStream_t stream) {
  const int64_t in = g.n * g.c * g.in[0] * g.in[1] * g.in[2];
  if (in == 0) return cudaSuccess;
  if (cudaError_t e = cudaMemsetAsync(dx, 0, sizeof(float) * in, stream); e != cudaSuccess) {
    return e;
  }
  const int64_t n = OutCount(g);
  if (n == 0) return cudaSuccess;
  MaxPoolGradKernel<<<BlocksFor(n), kThreads, 0, stream>>>(x, dy, dx, g, n);
  return cudaGetLastError();
}

cudaError_t LaunchGlobalAvgPool(const float* x, float* y, int64_t nc, int64_t spatial,
                                cudaStream_t stream) {
  if (nc == 0) return cudaSuccess;
  GlobalAvgPoolKernel<<<BlocksFor(nc), kThreads, 0, stream>>>(x, y, nc, spatial);
  return cudaGetLastError();
}

cudaError_t LaunchGlobalAvgPoolGrad(const float* dy, float* dx, int64_t nc, int64_t spatial,
                                    cudaStream_t stream) {
  if (nc * spatial == 0) return cudaSuccess;
  GlobalAvgPoolGradKernel<<<BlocksFor(nc * spatial), kThreads, 0, stream>>>(dy, dx, nc, spatial);
  return cudaGetLastError();
}

}  // namespace fleet::cuda
