// ArgMax and ArgMin (opset 13): the i64 index of the largest / smallest element along `axis`,
// the first one by default or the last one with select_last_index=1; keepdims keeps the axis as
// size 1. The input is viewed as [outer, axis, inner]; for inner > 1 a block of columns is
// scanned row by row so that the reads stay contiguous.
#include <algorithm>
#include <vector>

#include "absl/strings/str_cat.h"
#include "ir/status_macros.h"
#include "kernels/cpu/reduce_axes.h"
#include "kernels/cpu/reduce_internal.h"

namespace fleet::cpu {
namespace {

constexpr int64_t kArgBlock = 256;

// Whether `v` replaces the current best `best`: strictly better, or equal when the last index
// is wanted.
template <bool kMax, bool kLast, typename T>
inline bool Better(T v, T best) {
  if constexpr (kMax) {
    return kLast ? v >= best : v > best;
  } else {
    return kLast ? v <= best : v < best;
  }
}

template <bool kMax, bool kLast, typename T>
void ArgBlocks(const KernelContext& ctx, const T* x, int64_t outer, int64_t n, int64_t inner,
               int64_t* y) {
  if (inner == 1) {
    ctx.ParallelFor(outer, GrainFor(n), [&](int64_t b, int64_t e) {
      for (int64_t o = b; o < e; ++o) {
        const T* row = x + o * n;
        T best = row[0];
        int64_t idx = 0;
        for (int64_t i = 1; i < n; ++i) {
          if (Better<kMax, kLast>(row[i], best)) {
            best = row[i];
            idx = i;
          }
        }
        y[o] = idx;
      }
    });
    return;
  }
  const int64_t blocks = (inner + kArgBlock - 1) / kArgBlock;
  ctx.ParallelFor(outer * blocks, GrainFor(n * std::min(inner, kArgBlock)),
                  [&](int64_t b, int64_t e) {
                    T best[kArgBlock];
                    int64_t idx[kArgBlock];
                    for (int64_t k = b; k < e; ++k) {
                      const int64_t o = k / blocks, c0 = (k % blocks) * kArgBlock;
                      const int64_t w = std::min(kArgBlock, inner - c0);
                      const T* src = x + o * n * inner + c0;
                      for (int64_t c = 0; c < w; ++c) {
                        best[c] = src[c];
                        idx[c] = 0;
                      }
                      for (int64_t r = 1; r < n; ++r) {
                        const T* row = src + r * inner;
                        for (int64_t c = 0; c < w; ++c) {
                          const bool better = Better<kMax, kLast>(row[c], best[c]);
                          best[c] = better ? row[c] : best[c];
                          idx[c] = better ? r : idx[c];
                        }
                      }
                      std::copy(idx, idx + w, y + o * inner + c0);
                    }
                  });
}

template <bool kMax, typename T>
absl::Status RunArg(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  FLEET_ASSIGN_OR_RETURN(int axis, ResolveAxis(ctx, ctx.GetInt("axis", 0), x.rank()));
  const bool keepdims = ctx.GetInt("keepdims", 1) != 0;
  const bool last = ctx.GetInt("select_last_index", 0) != 0;
  if (x.dim(axis) == 0) {
    int64_t others = 1;
    for (int i = 0; i < x.rank(); ++i) {
      if (i != axis) others *= x.dim(i);
    }
    if (others != 0) {
      return ctx.InvalidArgument(absl::StrCat("input ", x.TypeString(), " has size 0 along axis ",
                                              axis, "; expected at least one element to compare"));
    }
  }
  std::vector<int64_t> out_shape;
  for (int i = 0; i < x.rank(); ++i) {
    if (i != axis)
      out_shape.push_back(x.dim(i));
    else if (keepdims)
      out_shape.push_back(1);
  }
  Tensor* y = ctx.Output(0, DataType::kI64, out_shape);
  if (y->numel() == 0) return absl::OkStatus();
  const AxisSplit s = SplitAt(x.shape(), axis);
  if (last) {
    ArgBlocks<kMax, true, T>(ctx, x.data<T>(), s.outer, s.axis, s.inner, y->data<int64_t>());
  } else {
    ArgBlocks<kMax, false, T>(ctx, x.data<T>(), s.outer, s.axis, s.inner, y->data<int64_t>());
  }
  return absl::OkStatus();
}

template <bool kMax>
absl::Status ArgKernel(KernelContext& ctx) {
  switch (ctx.input(0).dtype()) {
    case DataType::kF32:
      return RunArg<kMax, float>(ctx);
    case DataType::kF64:
      return RunArg<kMax, double>(ctx);
    case DataType::kI32:
      return RunArg<kMax, int32_t>(ctx);
    case DataType::kI64:
      return RunArg<kMax, int64_t>(ctx);
    default:
      return ctx.Unimplemented(absl::StrCat("input has type ", ctx.input(0).TypeString(),
                                            "; expected f32, f64, i32 or i64"));
  }
}

}  // namespace

void RegisterArgReduceKernels(KernelTable& table) {
  const std::vector<DataType> types = {DataType::kF32, DataType::kF64, DataType::kI32,
                                       DataType::kI64};
  table.Add("ArgMax", Device::kCpu, types, &ArgKernel<true>);
  table.Add("ArgMin", Device::kCpu, types, &ArgKernel<false>);
}

}  // namespace fleet::cpu
