// Small elementwise loops over contiguous float/double arrays for the normalisation kernels.
//
// Each comes twice: fleet::cpu::X runs at the active instruction-set level (level_loops.h; call
// it per row, not per element), and vec::X is its always-inline body, for loops that are
// themselves run at a level (a whole range of rows in one call). Each steps in fixed blocks of
// kVec elements: GCC's -O2 vectoriser only takes loops whose
// trip count is known, and the __restrict parameters tell it the arrays do not overlap. (Lambdas
// over captured pointers do not vectorise: the pointers are reloaded after every store.)
#pragma once

#include <cstdint>
#include <limits>

#include "kernels/cpu/level_loops.h"

namespace fleet::cpu {

constexpr int kVec = 16;  // elements per vectorised step (SumLanes / MaxLanes assume 16)

// By value (std::max takes references, which keeps GCC from vectorising some loops).
template <typename T>
FLEET_LOOP_INLINE T MaxOf(T a, T b) {
  return a < b ? b : a;
}

// The sum / max of kVec lanes as a fixed tree of halvings. Each step is one vector operation;
// a running scalar over the lanes would be a chain of kVec dependent operations, which costs
// more than the whole loop on the short rows of attention and layer norms.
template <typename T>
FLEET_LOOP_INLINE T SumLanes(T* lanes) {
  for (int j = 0; j < 8; ++j) lanes[j] += lanes[j + 8];
  for (int j = 0; j < 4; ++j) lanes[j] += lanes[j + 4];
  for (int j = 0; j < 2; ++j) lanes[j] += lanes[j + 2];
  return lanes[0] + lanes[1];
}
template <typename T>
FLEET_LOOP_INLINE T MaxLanes(T* lanes) {
  for (int j = 0; j < 8; ++j) lanes[j] = MaxOf(lanes[j], lanes[j + 8]);
  for (int j = 0; j < 4; ++j) lanes[j] = MaxOf(lanes[j], lanes[j + 4]);
  for (int j = 0; j < 2; ++j) lanes[j] = MaxOf(lanes[j], lanes[j + 2]);
  return MaxOf(lanes[0], lanes[1]);
}

namespace vec {

template <typename T>
FLEET_LOOP_INLINE T RowMax(const T* x, int64_t n) {
  T lanes[kVec];
  for (int j = 0; j < kVec; ++j) lanes[j] = -std::numeric_limits<T>::infinity();
  int64_t i = 0;
  for (; i + kVec <= n; i += kVec) {
    for (int j = 0; j < kVec; ++j) lanes[j] = MaxOf(lanes[j], x[i + j]);
  }
  T m = -std::numeric_limits<T>::infinity();
  for (; i < n; ++i) m = MaxOf(m, x[i]);
  return MaxOf(m, MaxLanes(lanes));
}

template <typename T>
FLEET_LOOP_INLINE T RowDot(const T* __restrict a, const T* __restrict b, int64_t n) {
  T lanes[kVec] = {};
  int64_t i = 0;
  for (; i + kVec <= n; i += kVec) {
    for (int j = 0; j < kVec; ++j) lanes[j] += a[i + j] * b[i + j];
  }
  T s = 0;
  for (; i < n; ++i) s += a[i] * b[i];
  return SumLanes(lanes) + s;
}

template <typename T>
FLEET_LOOP_INLINE void SubTwoScalars(const T* __restrict x, T a, T b, T* __restrict y, int64_t n) {
  int64_t i = 0;
  for (; i + kVec <= n; i += kVec) {
    for (int j = 0; j < kVec; ++j) y[i + j] = (x[i + j] - a) - b;
  }
  for (; i < n; ++i) y[i] = (x[i] - a) - b;
}

template <typename T>
FLEET_LOOP_INLINE void AddScalarInPlace(T* __restrict y, T s, int64_t n) {
  int64_t i = 0;
  for (; i + kVec <= n; i += kVec) {
    for (int j = 0; j < kVec; ++j) y[i + j] += s;
  }
  for (; i < n; ++i) y[i] += s;
}

template <typename T>
FLEET_LOOP_INLINE void ScaleInPlace(T* __restrict y, T s, int64_t n) {
  int64_t i = 0;
  for (; i + kVec <= n; i += kVec) {
    for (int j = 0; j < kVec; ++j) y[i + j] *= s;
  }
  for (; i < n; ++i) y[i] *= s;
}

template <typename T>
FLEET_LOOP_INLINE void SubTwoVectors(const T* __restrict x, const T* __restrict a,
                                     const T* __restrict b, T* __restrict y, int64_t n) {
  int64_t i = 0;
  for (; i + kVec <= n; i += kVec) {
    for (int j = 0; j < kVec; ++j) y[i + j] = (x[i + j] - a[i + j]) - b[i + j];
  }
  for (; i < n; ++i) y[i] = (x[i] - a[i]) - b[i];
}

template <typename T>
FLEET_LOOP_INLINE void MulVector(T* __restrict y, const T* __restrict s, int64_t n) {
  int64_t i = 0;
  for (; i + kVec <= n; i += kVec) {
    for (int j = 0; j < kVec; ++j) y[i + j] *= s[i + j];
  }
  for (; i < n; ++i) y[i] *= s[i];
}

template <typename T>
FLEET_LOOP_INLINE void MaxVector(const T* __restrict x, T* __restrict m, int64_t n) {
  int64_t i = 0;
  for (; i + kVec <= n; i += kVec) {
    for (int j = 0; j < kVec; ++j) m[i + j] = MaxOf(m[i + j], x[i + j]);
  }
  for (; i < n; ++i) m[i] = MaxOf(m[i], x[i]);
}

template <typename T>
FLEET_LOOP_INLINE T RowSum(const T* __restrict x, int64_t n) {
  T lanes[kVec] = {};
  int64_t i = 0;
  for (; i + kVec <= n; i += kVec) {
    for (int j = 0; j < kVec; ++j) lanes[j] += x[i + j];
  }
  T s = 0;
  for (; i < n; ++i) s += x[i];
  return SumLanes(lanes) + s;
}

template <typename T>
FLEET_LOOP_INLINE T RowSumSquaredDeviation(const T* __restrict x, T m, int64_t n) {
  T lanes[kVec] = {};
  int64_t i = 0;
  for (; i + kVec <= n; i += kVec) {
    for (int j = 0; j < kVec; ++j) {
      const T d = x[i + j] - m;
      lanes[j] += d * d;
    }
  }
  T s = 0;
  for (; i < n; ++i) s += (x[i] - m) * (x[i] - m);
  return SumLanes(lanes) + s;
}

template <typename T>
FLEET_LOOP_INLINE void AffineScalar(const T* __restrict x, T a, T b, T* __restrict y, int64_t n) {
  int64_t i = 0;
  for (; i + kVec <= n; i += kVec) {
    for (int j = 0; j < kVec; ++j) y[i + j] = x[i + j] * a + b;
  }
  for (; i < n; ++i) y[i] = x[i] * a + b;
}

template <typename T>
FLEET_LOOP_INLINE void AccumulateSquares(const T* __restrict x, T* __restrict acc, int64_t n) {
  int64_t i = 0;
  for (; i + kVec <= n; i += kVec) {
    for (int j = 0; j < kVec; ++j) acc[i + j] += x[i + j] * x[i + j];
  }
  for (; i < n; ++i) acc[i] += x[i] * x[i];
}

}  // namespace vec

// Max of x[0, n); -inf when n == 0.
template <typename T>
T RowMax(const T* x, int64_t n) {
  return RunLoopAtLevel<LoopOf<&vec::RowMax<T>>>(x, n);
}

// Sum of a * b over [0, n).
template <typename T>
T RowDot(const T* a, const T* b, int64_t n) {
  return RunLoopAtLevel<LoopOf<&vec::RowDot<T>>>(a, b, n);
}

// y = (x - a) - b (scalars a, b).
template <typename T>
void SubTwoScalars(const T* x, T a, T b, T* y, int64_t n) {
  RunLoopAtLevel<LoopOf<&vec::SubTwoScalars<T>>>(x, a, b, y, n);
}

// y += s (scalar s).
template <typename T>
void AddScalarInPlace(T* y, T s, int64_t n) {
  RunLoopAtLevel<LoopOf<&vec::AddScalarInPlace<T>>>(y, s, n);
}
// y *= s (scalar s).
template <typename T>
void ScaleInPlace(T* y, T s, int64_t n) {
  RunLoopAtLevel<LoopOf<&vec::ScaleInPlace<T>>>(y, s, n);
}

// y = (x - a) - b, y *= s, and m = max(m, x), elementwise.
template <typename T>
void SubTwoVectors(const T* x, const T* a, const T* b, T* y, int64_t n) {
  RunLoopAtLevel<LoopOf<&vec::SubTwoVectors<T>>>(x, a, b, y, n);
}

template <typename T>
void MulVector(T* y, const T* s, int64_t n) {
  RunLoopAtLevel<LoopOf<&vec::MulVector<T>>>(y, s, n);
}

template <typename T>
void MaxVector(const T* x, T* m, int64_t n) {
  RunLoopAtLevel<LoopOf<&vec::MaxVector<T>>>(x, m, n);
}

// Sum of x[0, n), with kVec partial sums (also more accurate than one running sum).
template <typename T>
T RowSum(const T* x, int64_t n) {
  return RunLoopAtLevel<LoopOf<&vec::RowSum<T>>>(x, n);
}

// Sum of (x - m)^2 over x[0, n).
template <typename T>
T RowSumSquaredDeviation(const T* x, T m, int64_t n) {
  return RunLoopAtLevel<LoopOf<&vec::RowSumSquaredDeviation<T>>>(x, m, n);
}

// y = x * a + b (scalars a, b).
template <typename T>
void AffineScalar(const T* x, T a, T b, T* y, int64_t n) {
  RunLoopAtLevel<LoopOf<&vec::AffineScalar<T>>>(x, a, b, y, n);
}

// acc += x * x elementwise.
template <typename T>
void AccumulateSquares(const T* x, T* acc, int64_t n) {
  RunLoopAtLevel<LoopOf<&vec::AccumulateSquares<T>>>(x, acc, n);
}

}  // namespace fleet::cpu
