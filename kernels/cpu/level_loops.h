// Vectorised loops that run at the active instruction-set level from baseline-compiled kernels.
//
// Most CPU kernels are plain loops that GCC vectorises (unary_util.h, broadcast.h,
// vec_loops.h). Their files are compiled for baseline x86-64, where those loops are 4 lanes
// wide without FMA, and the transcendental ones (vec_math.h) barely vectorise at all.
// RunLoopAtLevel instantiates such a loop twice more, inside functions that carry GCC's target
// attribute for the avx2 and avx512 levels (x86-64-v3, x86-64-v4), and calls the instantiation
// of the level in use (cpu_isa.h, FLEET_CPU_ISA included). The loop body is inlined into each
// and vectorised for that level; a `a * b + c` in it becomes an FMA where the level has one.
//
// A loop is a struct with a static, always-inline Run whose array parameters are __restrict
// (without restrict GCC does not vectorise them):
//   struct ScaleLoop {
//     static FLEET_LOOP_INLINE void Run(float* __restrict y, float s, int64_t n) {
//       for (int64_t i = 0; i < n; ++i) y[i] *= s;
//     }
//   };
//   RunLoopAtLevel<ScaleLoop>(y, s, n);
// Everything Run calls must inline into it (always-inline helpers, functors defined in
// headers); a call that stays a call runs at the baseline. Call it per row or per block, not
// per element: each call costs a switch and a call.
#pragma once

#include "kernels/cpu/cpu_isa.h"

#define FLEET_LOOP_INLINE inline __attribute__((always_inline))

namespace fleet::cpu {
namespace level_loops_internal {

#if defined(__x86_64__) && defined(__GNUC__)
#define FLEET_LEVEL_LOOPS 1
// "arch=x86-64-vN" names ISA levels, not processors, so the baseline's inline functions may
// still be inlined into these (GCC refuses when the arch differs).
template <typename Loop, typename... Args>
__attribute__((target("arch=x86-64-v4"), noinline)) auto RunAvx512(Args... args) {
  return Loop::Run(args...);
}
template <typename Loop, typename... Args>
__attribute__((target("arch=x86-64-v3"), noinline)) auto RunAvx2(Args... args) {
  return Loop::Run(args...);
}
#endif

}  // namespace level_loops_internal

// Loop::Run(args...) at the active level; returns what Run returns.
// ActiveCpuIsa(), read once: the switch below runs per row in some kernels.
inline CpuIsa LoopLevel() {
  static const CpuIsa level = ActiveCpuIsa();
  return level;
}

template <typename Loop, typename... Args>
inline auto RunLoopAtLevel(Args... args) {
#if defined(FLEET_LEVEL_LOOPS)
  switch (LoopLevel()) {
    case CpuIsa::kAvx512:
      return level_loops_internal::RunAvx512<Loop>(args...);
    case CpuIsa::kAvx2:
      return level_loops_internal::RunAvx2<Loop>(args...);
    case CpuIsa::kPortable:
      break;
  }
#endif
  return Loop::Run(args...);
}

// Adapts an always-inline function to RunLoopAtLevel: RunLoopAtLevel<LoopOf<&F>>(args...).
template <auto F>
struct LoopOf {
  template <typename... Args>
  static FLEET_LOOP_INLINE auto Run(Args... args) {
    return F(args...);
  }
};

}  // namespace fleet::cpu
