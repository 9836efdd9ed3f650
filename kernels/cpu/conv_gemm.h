// The weights-times-columns GEMM of Conv and ConvTranspose, per group:
//   Y[mg, cols] = op(W_g)[mg, rows] * X[rows, cols]
// For f32 with constant weights, every group's op(W_g) is packed once (PackSgemmA) and kept in
// the op's state; otherwise each call goes through GemmRowMajor. Threads over the op's pool.
#pragma once

#include <cstdint>
#include <type_traits>
#include <vector>

#include "executor/kernel.h"
#include "kernels/cpu/gemm.h"
#include "kernels/cpu/packed_weights.h"
#include "kernels/cpu/sgemm.h"

namespace fleet::cpu {

template <typename T>
class ConvWeightGemm {
 public:
  // Group g's weights are op(W_g) with W_g at w + g * group_stride, row-major with leading
  // dimension `ldw`: [mg, rows] when !trans, [rows, mg] when trans.
  ConvWeightGemm(KernelContext& ctx, int w_input, const T* w, int64_t groups, int64_t group_stride,
                 bool trans, int64_t mg, int64_t rows, int64_t ldw)
      : pool_(ctx.pool()),
        w_(w),
        group_stride_(group_stride),
        trans_(trans),
        mg_(mg),
        rows_(rows),
        ldw_(ldw) {
    if constexpr (std::is_same_v<T, float>) {
      packs_ = CachedPackedWeights(
          ctx, w_input, trans ? 1 : 0, [&](std::vector<PackedSgemmMatrix>* out) {
            for (int64_t g = 0; g < groups; ++g) {
              out->push_back(PackSgemmA(trans, mg, rows, w + g * group_stride, ldw));
            }
          });
    }
  }

  // Y = op(W_grp) * X, X [rows, cols] with leading dimension ldx, Y with leading dimension ldy.
  void Run(int64_t grp, const T* x, int64_t cols, int64_t ldx, T* y, int64_t ldy) const {
    if constexpr (std::is_same_v<T, float>) {
      if (packs_ != nullptr) {
        Sgemm(mg_, cols, rows_, 1.0f, SgemmOperand{nullptr, 0, false, &(*packs_)[grp]},
              SgemmOperand{x, ldx, false, nullptr}, 0.0f, y, ldy, pool_);
        return;
      }
    }
    GemmRowMajor<T>(trans_, false, mg_, cols, rows_, 1.0, w_ + grp * group_stride_, ldw_, x, ldx,
                    0.0, y, ldy, pool_);
  }

 private:
  ThreadPool* pool_;
  const T* w_;
  int64_t group_stride_;
  bool trans_;
  int64_t mg_, rows_, ldw_;
  const std::vector<PackedSgemmMatrix>* packs_ = nullptr;
};

}  // namespace fleet::cpu
