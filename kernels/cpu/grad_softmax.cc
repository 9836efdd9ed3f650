// Gradient kernels of Softmax and LogSoftmax (schemas in ir/fleet_grad_ops_loss.cc), from the
// forward output Y and its gradient dY, along `axis` as the forward op had it:
//   fleet.softmax_grad:      dX = Y * (dY - sum(dY * Y))
//   fleet.log_softmax_grad:  dX = dY - exp(Y) * sum(dY)
// Like softmax.cc, the tensors are viewed as [outer, n, inner]: inner == 1 works on contiguous
// rows, inner > 1 on blocks of columns, so every inner loop is contiguous and vectorises.
#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "ir/status_macros.h"
#include "kernels/cpu/fast_exp.h"
#include "kernels/cpu/groups.h"
#include "kernels/cpu/level_loops.h"
#include "kernels/cpu/reduce_axes.h"
#include "kernels/cpu/vec_loops.h"

namespace fleet::cpu {
namespace {

constexpr int64_t kColumns = 256;  // columns per block when inner > 1

namespace at_level {
template <bool kLog, typename T>
FLEET_LOOP_INLINE void GradRow(const T* __restrict y, const T* __restrict dy, T* __restrict dx,
                               int64_t n) {
  if constexpr (kLog) {
    const T s = RowSum(dy, n);
    int64_t i = 0;
    for (; i + kVec <= n; i += kVec) {
      for (int j = 0; j < kVec; ++j) dx[i + j] = dy[i + j] - ExpOf(y[i + j]) * s;
    }
    for (; i < n; ++i) dx[i] = dy[i] - ExpOf(y[i]) * s;
  } else {
    const T s = RowDot(dy, y, n);
    int64_t i = 0;
    for (; i + kVec <= n; i += kVec) {
      for (int j = 0; j < kVec; ++j) dx[i + j] = y[i + j] * (dy[i + j] - s);
    }
    for (; i < n; ++i) dx[i] = y[i] * (dy[i] - s);
  }
}
}  // namespace at_level

template <bool kLog, typename T>
void GradRow(const T* y, const T* dy, T* dx, int64_t n) {
  RunLoopAtLevel<LoopOf<&at_level::GradRow<kLog, T>>>(y, dy, dx, n);
}

// w columns of the strided case: y, dy and dx point at column c0 of row 0; rows are `stride`
// elements apart.
template <bool kLog, typename T>
void GradColumns(const T* y, const T* dy, T* dx, int64_t n, int64_t stride, int64_t w) {
  T s[kColumns];
  std::fill(s, s + w, T(0));
  for (int64_t r = 0; r < n; ++r) {
    const T* __restrict yr = y + r * stride;
    const T* __restrict dyr = dy + r * stride;
    for (int64_t c = 0; c < w; ++c) s[c] += kLog ? dyr[c] : dyr[c] * yr[c];
  }
  for (int64_t r = 0; r < n; ++r) {
    const T* __restrict yr = y + r * stride;
    const T* __restrict dyr = dy + r * stride;
    T* __restrict dxr = dx + r * stride;
    for (int64_t c = 0; c < w; ++c) {
      dxr[c] = kLog ? dyr[c] - ExpOf(yr[c]) * s[c] : yr[c] * (dyr[c] - s[c]);
    }
  }
}

template <bool kLog, typename T>
absl::Status RunGrad(KernelContext& ctx) {
  const Tensor& y = ctx.input(0);
  const Tensor& dy = ctx.input(1);
  if (dy.shape() != y.shape() || dy.dtype() != y.dtype()) {
    return ctx.InvalidArgument(absl::StrCat("gradient ", dy.TypeString(), " does not match the ",
                                            "output ", y.TypeString()));
  }
  FLEET_ASSIGN_OR_RETURN(int axis, ResolveAxis(ctx, ctx.GetInt("axis", -1), y.rank()));
  Tensor* dx = ctx.Output(0, y.dtype(), y.shape());
  if (y.numel() == 0) return absl::OkStatus();
  const AxisSplit s = SplitAt(y.shape(), axis);
  const T* py = y.data<T>();
  const T* pdy = dy.data<T>();
  T* pdx = dx->data<T>();
  const int64_t n = s.axis;
  if (s.inner == 1) {
    ctx.ParallelFor(s.outer, GrainFor(2 * n), [&](int64_t b, int64_t e) {
      for (int64_t o = b; o < e; ++o) GradRow<kLog, T>(py + o * n, pdy + o * n, pdx + o * n, n);
    });
    return absl::OkStatus();
  }
  const int64_t inner = s.inner;
  const int64_t blocks = (inner + kColumns - 1) / kColumns;
  ctx.ParallelFor(s.outer * blocks, GrainFor(2 * n * std::min(inner, kColumns)),
                  [&](int64_t b, int64_t e) {
                    for (int64_t k = b; k < e; ++k) {
                      const int64_t o = k / blocks, c0 = (k % blocks) * kColumns;
                      const int64_t offset = o * n * inner + c0;
                      GradColumns<kLog, T>(py + offset, pdy + offset, pdx + offset, n, inner,
                                           std::min(kColumns, inner - c0));
                    }
                  });
  return absl::OkStatus();
}

template <bool kLog>
absl::Status SoftmaxGradKernel(KernelContext& ctx) {
  if (!ctx.has_input(0) || !ctx.has_input(1)) {
    return ctx.InvalidArgument("needs inputs Out and OutGrad");
  }
  switch (ctx.input(0).dtype()) {
    case DataType::kF32:
      return RunGrad<kLog, float>(ctx);
    case DataType::kF64:
      return RunGrad<kLog, double>(ctx);
    default:
      return ctx.Unimplemented(
          absl::StrCat("input has type ", ctx.input(0).TypeString(), "; expected f32 or f64"));
  }
}

}  // namespace

void RegisterSoftmaxGradKernels(KernelTable& table) {
  const std::vector<DataType> types = {DataType::kF32, DataType::kF64};
  table.Add("fleet.softmax_grad", Device::kCpu, types, &SoftmaxGradKernel<false>);
  table.Add("fleet.log_softmax_grad", Device::kCpu, types, &SoftmaxGradKernel<true>);
}

}  // namespace fleet::cpu
