// The step counter and the learning-rate schedule on the device: one thread each, so that the
// step never travels to the host.
#include <cmath>

#include "kernels/cuda/launch.h"

namespace fleet::cuda {
namespace {

__global__ void IncrementKernel(const int64_t* x, int64_t step, int64_t* y) { y[0] = x[0] + step; }

__global__ void LrScheduleKernel(const int64_t* step, LrSchedule s, float* lr) {
  const int64_t t = step[0];
  double out;
  if (t < 0) {
    out = NAN;
  } else if (t < s.warmup_steps) {
    out = s.base_lr * static_cast<double>(t) / static_cast<double>(s.warmup_steps);
  } else {
    const double since = static_cast<double>(t - s.warmup_steps);
    const double steps = static_cast<double>(s.decay_steps > 1 ? s.decay_steps : 1);
    const double capped = since < steps ? since : steps;
    constexpr double kPi = 3.14159265358979323846;
    switch (s.decay) {
      case LrDecay::kConstant:
        out = s.base_lr;
        break;
      case LrDecay::kCosine:
        out = s.min_lr + (s.base_lr - s.min_lr) * (1 + cos(kPi * capped / steps)) / 2;
        break;
      case LrDecay::kLinear:
        out = s.base_lr + (s.min_lr - s.base_lr) * capped / steps;
        break;
      case LrDecay::kExponential:
        out = fmax(s.min_lr, s.base_lr * pow(s.decay_rate, since / steps));
        break;
      default:  // kStep
        out = fmax(s.min_lr, s.base_lr * pow(s.decay_rate, floor(since / steps)));
        break;
    }
  }
  lr[0] = static_cast<float>(out);
}

}  // namespace

cudaError_t LaunchIncrement(const int64_t* x, int64_t step, int64_t* y, cudaStream_t stream) {
  IncrementKernel<<<1, 1, 0, stream>>>(x, step, y);
  return cudaGetLastError();
}

cudaError_t LaunchLrSchedule(const int64_t* step, const LrSchedule& schedule, float* lr,
                             cudaStream_t stream) {
  LrScheduleKernel<<<1, 1, 0, stream>>>(step, schedule, lr);
  return cudaGetLastError();
}

}  // namespace fleet::cuda
