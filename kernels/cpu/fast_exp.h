// exp for the element type in the softmax and log-sum-exp loops (softmax.cc, reduce.cc):
// VecExp (vec_math.h: vectorisable, <= 1 ulp, full range) for float, std::exp for double.
#pragma once

#include <cmath>

#include "kernels/cpu/vec_math.h"

namespace fleet::cpu {

FLEET_VEC_INLINE float ExpOf(float x) { return VecExp(x); }
FLEET_VEC_INLINE double ExpOf(double x) { return std::exp(x); }

}  // namespace fleet::cpu
