// Loss scaling: the gradients unscaled in place with their finiteness checked on the way, up to
// kUnscaleTensors tensors a launch, and the scale's update by one thread, so that neither the
// scale nor the flag leaves the device.
#include <cmath>

#include "kernels/cuda/launch.h"
#include "kernels/cuda/launch_util.cuh"

namespace fleet::cuda {
namespace {

// Tensor blockIdx.y of `t`, its elements spread over the blocks along x. The flag is only ever
// cleared, so the racing writes agree.
__global__ void CheckFiniteAndUnscaleKernel(UnscaleTensors t, const float* scale,
                                            bool* all_finite) {
  const float s = scale[0];
  const float inv = 1.f / s;
  if (blockIdx.y == 0 && GlobalThread() == 0 && !(s > 0.f && isfinite(s))) *all_finite = false;
  const int j = blockIdx.y;
  float* x = t.x[j];
  const int64_t n = t.n[j];
  bool finite = true;
  for (int64_t i = GlobalThread(); i < n; i += GridStride()) {
    const float v = x[i];
    finite = finite && isfinite(v);
    x[i] = v * inv;
  }
  if (!finite) *all_finite = false;
}

__global__ void UpdateLossScalingKernel(const bool* all_finite, float* scale, int64_t* good_steps,
                                        int64_t* skipped_steps, LossScaling rule) {
  if (!*all_finite) {
    *scale *= rule.decr_ratio;
    *good_steps = 0;
    ++*skipped_steps;
  } else if (++*good_steps >= rule.incr_every_n_steps) {
    *scale *= rule.incr_ratio;
    *good_steps = 0;
  }
}

}  // namespace

cudaError_t LaunchCheckFiniteAndUnscale(const UnscaleTensors& tensors, const float* scale,
                                        bool* all_finite, cudaStream_t stream) {
  if (tensors.count <= 0) return cudaSuccess;
  int64_t largest = 0;
  for (int j = 0; j < tensors.count; ++j) largest = tensors.n[j] > largest ? tensors.n[j] : largest;
  // At least one block even when every tensor is empty: the scale is still checked. The
  // kernel strides over its tensor, so a few thousand blocks per tensor suffice.
  const int64_t blocks = BlocksFor(largest) < 4096 ? BlocksFor(largest) : 4096;
  const dim3 grid(static_cast<unsigned int>(blocks), static_cast<unsigned int>(tensors.count));
  CheckFiniteAndUnscaleKernel<<<grid, kThreads, 0, stream>>>(tensors, scale, all_finite);
  return cudaGetLastError();
}

cudaError_t LaunchUpdateLossScaling(const bool* all_finite, float* scale, int64_t* good_steps,
                                    int64_t* skipped_steps, const LossScaling& rule,
                                    cudaStream_t stream) {
  UpdateLossScalingKernel<<<1, 1, 0, stream>>>(all_finite, scale, good_steps, skipped_steps, rule);
  return cudaGetLastError();
}

}  // namespace fleet::cuda
