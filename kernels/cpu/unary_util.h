// The driver for one-input, same-shape, same-dtype CPU kernels (unary.cc, activation.cc).
//
// An op is a functor type
//   struct ExpOp : FloatOnly {
//     explicit ExpOp(const KernelContext& ctx);      // reads attributes
//     template <typename T> T operator()(T x) const;  // one element
//   };
// whose base says which integer instantiations exist (FloatOnly, SignedToo, IntegersToo).
// UnaryKernel<Op> maps it over the input in parallel, in blocks the compiler vectorises when the
// op is branch-free (vec_math.h); f16 is computed in f32 in small blocks.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>

#include "absl/strings/str_cat.h"
#include "executor/half.h"
#include "executor/kernel.h"
#include "kernels/cpu/broadcast.h"
#include "kernels/cpu/level_loops.h"

namespace fleet::cpu {

struct FloatOnly {
  static constexpr bool kSigned = false;    // i64, i32, i8
  static constexpr bool kUnsigned = false;  // u8
};
struct SignedToo {
  static constexpr bool kSigned = true;
  static constexpr bool kUnsigned = false;
};
struct IntegersToo {
  static constexpr bool kSigned = true;
  static constexpr bool kUnsigned = true;
};

// y[i] = op(x[i]) for i in [0, n), in fixed blocks: GCC's -O2 vectoriser only takes loops with
// a known trip count, and not loops over a lambda's captured pointers (see vec_loops.h). Ops
// with a vectorisable body (Relu, Abs, Neg, and the vec_math.h functions behind Exp, Log, Erf,
// Tanh, Sigmoid, Softplus) become SIMD loops; the rest stay scalar.
// Runs at the active instruction-set level (level_loops.h).
template <typename T, typename Op>
struct MapUnaryLoop {
  static FLEET_LOOP_INLINE void Run(const Op* op, const T* __restrict x, T* __restrict y,
                                    int64_t n) {
    constexpr int64_t kBlock = 64 / sizeof(T) < 16 ? 16 : 64 / sizeof(T);
    int64_t i = 0;
    for (; i + kBlock <= n; i += kBlock) {
      for (int64_t j = 0; j < kBlock; ++j) y[i + j] = (*op)(x[i + j]);
    }
    for (; i < n; ++i) y[i] = (*op)(x[i]);
  }
};

template <typename T, typename Op>
void MapUnaryBlock(const Op& op, const T* x, T* y, int64_t n) {
  RunLoopAtLevel<MapUnaryLoop<T, Op>>(&op, x, y, n);
}

template <typename T, typename Op>
void MapUnary(const KernelContext& ctx, const Op& op, const T* x, T* y, int64_t n) {
  ctx.ParallelFor(n, kElementwiseGrain,
                  [&](int64_t b, int64_t e) { MapUnaryBlock(op, x + b, y + b, e - b); });
}

template <typename Op>
void MapUnaryHalf(const KernelContext& ctx, const Op& op, const uint16_t* x, uint16_t* y,
                  int64_t n) {
  ctx.ParallelFor(n, kElementwiseGrain, [&](int64_t b, int64_t e) {
    constexpr int64_t kBlock = 256;
    float buf[kBlock];
    for (int64_t s = b; s < e; s += kBlock) {
      const int64_t m = std::min(kBlock, e - s);
      float out[kBlock];
      for (int64_t i = 0; i < m; ++i) buf[i] = HalfToFloat(x[s + i]);
      MapUnaryBlock(op, buf, out, m);
      for (int64_t i = 0; i < m; ++i) y[s + i] = FloatToHalf(out[i]);
    }
  });
}

template <typename Op>
absl::Status UnaryKernel(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  const Op op(ctx);
  const int64_t n = x.numel();
  switch (x.dtype()) {
    case DataType::kF32: {
      Tensor* y = ctx.Output(0, x.dtype(), x.shape());
      MapUnary(ctx, op, x.data<float>(), y->data<float>(), n);
      return absl::OkStatus();
    }
    case DataType::kF64: {
      Tensor* y = ctx.Output(0, x.dtype(), x.shape());
      MapUnary(ctx, op, x.data<double>(), y->data<double>(), n);
      return absl::OkStatus();
    }
    case DataType::kF16: {
      Tensor* y = ctx.Output(0, x.dtype(), x.shape());
      MapUnaryHalf(ctx, op, x.data<uint16_t>(), y->data<uint16_t>(), n);
      return absl::OkStatus();
    }
    default:
      break;
  }
  if constexpr (Op::kSigned) {
    Tensor* y;
    switch (x.dtype()) {
      case DataType::kI64:
        y = ctx.Output(0, x.dtype(), x.shape());
        MapUnary(ctx, op, x.data<int64_t>(), y->data<int64_t>(), n);
        return absl::OkStatus();
      case DataType::kI32:
        y = ctx.Output(0, x.dtype(), x.shape());
        MapUnary(ctx, op, x.data<int32_t>(), y->data<int32_t>(), n);
        return absl::OkStatus();
      case DataType::kI8:
        y = ctx.Output(0, x.dtype(), x.shape());
        MapUnary(ctx, op, x.data<int8_t>(), y->data<int8_t>(), n);
        return absl::OkStatus();
      default:
        break;
    }
  }
  if constexpr (Op::kUnsigned) {
    if (x.dtype() == DataType::kU8) {
      Tensor* y = ctx.Output(0, x.dtype(), x.shape());
      MapUnary(ctx, op, x.data<uint8_t>(), y->data<uint8_t>(), n);
      return absl::OkStatus();
    }
  }
  return ctx.Unimplemented(
      absl::StrCat("no CPU implementation for input dtype ", std::string(DataTypeName(x.dtype()))));
}

}  // namespace fleet::cpu
