// The training form of BatchNormalization and the gradients of the normalisations:
//   fleet.batch_norm_train(X, Scale, B, RunningMean, RunningVar)
//       -> Y, RunningMeanOut, RunningVarOut, SavedMean, SavedInvStd
//     normalises X [N, C, spatial...] with each channel's batch mean and (biased) variance,
//     and updates the running statistics as ONNX's momentum does (torch's momentum is
//     1 - this one): running = momentum * running + (1 - momentum) * batch, with the unbiased
//     variance for the running variance, as torch keeps it. SavedMean / SavedInvStd are the
//     batch mean and 1 / sqrt(var + epsilon), for the backward.
//   fleet.batch_norm_grad(X, Scale, SavedMean, SavedInvStd, YGrad) -> XGrad, ScaleGrad, BGrad
//     with x^ = (x - mean) * inv_std and M = N * spatial:
//       BGrad = sum dy, ScaleGrad = sum dy * x^,
//       XGrad = scale * inv_std * (dy - BGrad / M - x^ * ScaleGrad / M).
//   fleet.layer_norm_grad(X, Scale, B?, YGrad) -> XGrad, ScaleGrad, BGrad (axis, epsilon)
//     the same per row of X viewed as [rows, D] around `axis`, with the row statistics
//     recomputed from X; ScaleGrad and BGrad are summed over the rows (and down to the shapes
//     of Scale and B when those broadcast).
// Channels (BatchNorm) and blocks of rows (LayerNorm) run in parallel; the inner loops are
// fixed-width blocks the compiler vectorises (vec_loops.h).
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "ir/status_macros.h"
#include "kernels/cpu/groups.h"
#include "kernels/cpu/level_loops.h"
#include "kernels/cpu/reduce_axes.h"
#include "kernels/cpu/vec_loops.h"

namespace fleet::cpu {
namespace {

// Sum of dy * (x - m) over [0, n).
namespace at_level {
template <typename T>
FLEET_LOOP_INLINE T RowDotCentered(const T* __restrict dy, const T* __restrict x, T m, int64_t n) {
  T lanes[kVec] = {};
  int64_t i = 0;
  for (; i + kVec <= n; i += kVec) {
    for (int j = 0; j < kVec; ++j) lanes[j] += dy[i + j] * (x[i + j] - m);
  }
  T s = 0;
  for (; i < n; ++i) s += dy[i] * (x[i] - m);
  return SumLanes(lanes) + s;
}
}  // namespace at_level

template <typename T>
T RowDotCentered(const T* dy, const T* x, T m, int64_t n) {
  return RunLoopAtLevel<LoopOf<&at_level::RowDotCentered<T>>>(dy, x, m, n);
}

// dx = a * dy + b * x + c (scalars a, b, c).
namespace at_level {
template <typename T>
FLEET_LOOP_INLINE void AxpbyPlusC(const T* __restrict dy, const T* __restrict x, T a, T b, T c,
                                  T* __restrict dx, int64_t n) {
  int64_t i = 0;
  for (; i + kVec <= n; i += kVec) {
    for (int j = 0; j < kVec; ++j) dx[i + j] = a * dy[i + j] + b * x[i + j] + c;
  }
  for (; i < n; ++i) dx[i] = a * dy[i] + b * x[i] + c;
}
}  // namespace at_level

template <typename T>
void AxpbyPlusC(const T* dy, const T* x, T a, T b, T c, T* dx, int64_t n) {
  RunLoopAtLevel<LoopOf<&at_level::AxpbyPlusC<T>>>(dy, x, a, b, c, dx, n);
}

// One LayerNorm row: xhat = (x - m) * inv, g = dy * scale, and the column sums
// dscale += dy * xhat, dbias += dy.
namespace at_level {
template <typename T>
FLEET_LOOP_INLINE void LayerNormGradRow(const T* __restrict x, const T* __restrict dy,
                                        const T* __restrict scale, T m, T inv, T* __restrict xhat,
                                        T* __restrict g, T* __restrict dscale, T* __restrict dbias,
                                        int64_t n) {
  int64_t i = 0;
  for (; i + kVec <= n; i += kVec) {
    for (int j = 0; j < kVec; ++j) {
      const T h = (x[i + j] - m) * inv;
      xhat[i + j] = h;
      g[i + j] = dy[i + j] * scale[i + j];
      dscale[i + j] += dy[i + j] * h;
      dbias[i + j] += dy[i + j];
    }
  }
  for (; i < n; ++i) {
    const T h = (x[i] - m) * inv;
    xhat[i] = h;
    g[i] = dy[i] * scale[i];
    dscale[i] += dy[i] * h;
    dbias[i] += dy[i];
  }
}
}  // namespace at_level

template <typename T>
void LayerNormGradRow(const T* x, const T* dy, const T* scale, T m, T inv, T* xhat, T* g, T* dscale,
                      T* dbias, int64_t n) {
  RunLoopAtLevel<LoopOf<&at_level::LayerNormGradRow<T>>>(x, dy, scale, m, inv, xhat, g, dscale,
                                                         dbias, n);
}

// dx = inv * (g - a - xhat * b).
namespace at_level {
template <typename T>
FLEET_LOOP_INLINE void SubScaled(const T* __restrict g, const T* __restrict xhat, T a, T b, T inv,
                                 T* __restrict dx, int64_t n) {
  int64_t i = 0;
  for (; i + kVec <= n; i += kVec) {
    for (int j = 0; j < kVec; ++j) dx[i + j] = inv * (g[i + j] - a - xhat[i + j] * b);
  }
  for (; i < n; ++i) dx[i] = inv * (g[i] - a - xhat[i] * b);
}
}  // namespace at_level

template <typename T>
void SubScaled(const T* g, const T* xhat, T a, T b, T inv, T* dx, int64_t n) {
  RunLoopAtLevel<LoopOf<&at_level::SubScaled<T>>>(g, xhat, a, b, inv, dx, n);
}

// Checks that input i is T[c].
absl::Status CheckPerChannel(const KernelContext& ctx, int i, const char* name, int64_t c) {
  if (!ctx.has_input(i)) return ctx.InvalidArgument(absl::StrCat("input '", name, "' is missing"));
  const Tensor& t = ctx.input(i);
  if (t.dtype() != ctx.input(0).dtype() || t.rank() != 1 || t.dim(0) != c) {
    return ctx.InvalidArgument(absl::StrCat("input '", name, "' is ", t.TypeString(), "; expected ",
                                            std::string(DataTypeName(ctx.input(0).dtype())), "[", c,
                                            "] (one value per channel of X)"));
  }
  return absl::OkStatus();
}

// X as [N, C, S].
absl::Status ChannelDims(const KernelContext& ctx, int64_t* n, int64_t* c, int64_t* s) {
  if (!ctx.has_input(0) || ctx.input(0).rank() < 2) {
    return ctx.InvalidArgument("input 'X' needs rank >= 2 (N, C, ...)");
  }
  const Tensor& x = ctx.input(0);
  *n = x.dim(0);
  *c = x.dim(1);
  *s = *n * *c == 0 ? 0 : x.numel() / (*n * *c);
  return absl::OkStatus();
}

template <typename T>
absl::Status BatchNormTrainKernel(KernelContext& ctx) {
  int64_t n, channels, s;
  if (absl::Status st = ChannelDims(ctx, &n, &channels, &s); !st.ok()) return st;
  const char* names[] = {"X", "Scale", "B", "RunningMean", "RunningVar"};
  for (int i = 1; i < 5; ++i) {
    if (absl::Status st = CheckPerChannel(ctx, i, names[i], channels); !st.ok()) return st;
  }
  const Tensor& x = ctx.input(0);
  const T* px = x.data<T>();
  const T* scale = ctx.input(1).data<T>();
  const T* bias = ctx.input(2).data<T>();
  const T* run_mean = ctx.input(3).data<T>();
  const T* run_var = ctx.input(4).data<T>();
  const double eps = ctx.GetFloat("epsilon", 1e-5f);
  const double momentum = ctx.GetFloat("momentum", 0.9f);
  const int64_t count = n * s;
  if (count == 0) return ctx.InvalidArgument("input 'X' has no elements per channel");
  T* py = ctx.Output(0, x.dtype(), x.shape())->template data<T>();
  std::vector<T> mean(channels), var(channels), inv_std(channels);
  ctx.ParallelFor(channels, GrainFor(count), [&](int64_t begin, int64_t end) {
    for (int64_t c = begin; c < end; ++c) {
      double sum = 0;
      for (int64_t i = 0; i < n; ++i) sum += RowSum(px + (i * channels + c) * s, s);
      const T m = static_cast<T>(sum / count);
      double sq = 0;
      for (int64_t i = 0; i < n; ++i)
        sq += RowSumSquaredDeviation(px + (i * channels + c) * s, m, s);
      const double v = sq / count;
      const double inv = 1.0 / std::sqrt(v + eps);
      mean[c] = m;
      var[c] = static_cast<T>(count > 1 ? sq / (count - 1) : v);
      inv_std[c] = static_cast<T>(inv);
      const T a = static_cast<T>(scale[c] * inv);
      const T b = static_cast<T>(bias[c] - m * scale[c] * inv);
      for (int64_t i = 0; i < n; ++i) {
        const int64_t off = (i * channels + c) * s;
        AffineScalar(px + off, a, b, py + off, s);
      }
    }
  });
  for (int out = 1; out < ctx.num_outputs(); ++out) {
    T* r = ctx.Output(out, x.dtype(), {channels})->template data<T>();
    for (int64_t c = 0; c < channels; ++c) {
      switch (out) {
        case 1:
          r[c] = static_cast<T>(momentum * run_mean[c] + (1.0 - momentum) * mean[c]);
          break;
        case 2:
          r[c] = static_cast<T>(momentum * run_var[c] + (1.0 - momentum) * var[c]);
          break;
        case 3:
          r[c] = mean[c];
          break;
        default:
          r[c] = inv_std[c];
      }
    }
  }
  return absl::OkStatus();
}

template <typename T>
absl::Status BatchNormGradKernel(KernelContext& ctx) {
  int64_t n, channels, s;
  if (absl::Status st = ChannelDims(ctx, &n, &channels, &s); !st.ok()) return st;
  const char* names[] = {"X", "Scale", "SavedMean", "SavedInvStd"};
  for (int i = 1; i < 4; ++i) {
    if (absl::Status st = CheckPerChannel(ctx, i, names[i], channels); !st.ok()) return st;
  }
  const Tensor& x = ctx.input(0);
  if (!ctx.has_input(4) || ctx.input(4).shape() != x.shape() || ctx.input(4).dtype() != x.dtype()) {
    return ctx.InvalidArgument(absl::StrCat("input 'YGrad' is ",
                                            ctx.has_input(4) ? ctx.input(4).TypeString() : "absent",
                                            "; expected ", x.TypeString(), " like X"));
  }
  const T* px = x.data<T>();
  const T* scale = ctx.input(1).data<T>();
  const T* mean = ctx.input(2).data<T>();
  const T* inv_std = ctx.input(3).data<T>();
  const T* dy = ctx.input(4).data<T>();
  const int64_t count = n * s;
  T* dx = ctx.num_outputs() > 0 ? ctx.Output(0, x.dtype(), x.shape())->template data<T>() : nullptr;
  T* dscale =
      ctx.num_outputs() > 1 ? ctx.Output(1, x.dtype(), {channels})->template data<T>() : nullptr;
  T* dbias =
      ctx.num_outputs() > 2 ? ctx.Output(2, x.dtype(), {channels})->template data<T>() : nullptr;
  ctx.ParallelFor(channels, GrainFor(2 * count), [&](int64_t begin, int64_t end) {
    for (int64_t c = begin; c < end; ++c) {
      double sum_dy = 0, sum_dy_xc = 0;
      for (int64_t i = 0; i < n; ++i) {
        const int64_t off = (i * channels + c) * s;
        sum_dy += RowSum(dy + off, s);
        sum_dy_xc += RowDotCentered(dy + off, px + off, mean[c], s);
      }
      if (dbias != nullptr) dbias[c] = static_cast<T>(sum_dy);
      if (dscale != nullptr) dscale[c] = static_cast<T>(sum_dy_xc * inv_std[c]);
      if (dx == nullptr || count == 0) continue;
      // dx = k1 * dy + k2 * x + k3 (the formula in the file comment, expanded).
      const double inv = inv_std[c];
      const double k1 = scale[c] * inv;
      const double k2 = -k1 * inv * inv * sum_dy_xc / count;
      const double k3 = -k1 * sum_dy / count - k2 * mean[c];
      for (int64_t i = 0; i < n; ++i) {
        const int64_t off = (i * channels + c) * s;
        AxpbyPlusC(dy + off, px + off, static_cast<T>(k1), static_cast<T>(k2), static_cast<T>(k3),
                   dx + off, s);
      }
    }
  });
  return absl::OkStatus();
}

// For every element of `dims` (row-major), its offset in a tensor of `shape` broadcast to
// `dims` (right-aligned, NumPy rules); false when `shape` does not broadcast to `dims`.
bool BroadcastOffsets(const std::vector<int64_t>& shape, const std::vector<int64_t>& dims,
                      std::vector<int64_t>* offsets) {
  const int rank = static_cast<int>(dims.size());
  const int lead = static_cast<int>(shape.size()) - rank;
  for (int i = 0; i < lead; ++i) {
    if (shape[i] != 1) return false;
  }
  std::vector<int64_t> stride(rank, 0);
  int64_t st = 1;
  for (int d = rank - 1; d >= 0; --d) {
    const int sd = d + lead;
    const int64_t extent = sd >= 0 ? shape[sd] : 1;
    if (extent != dims[d] && extent != 1) return false;
    stride[d] = extent == 1 ? 0 : st;
    st *= extent;
  }
  const int64_t total = NumElements(dims);
  offsets->assign(total, 0);
  for (int64_t i = 0; i < total; ++i) {
    int64_t rest = i, off = 0;
    for (int d = rank - 1; d >= 0; --d) {
      off += (rest % dims[d]) * stride[d];
      rest /= dims[d];
    }
    (*offsets)[i] = off;
  }
  return true;
}

template <typename T>
absl::Status LayerNormGradKernel(KernelContext& ctx) {
  if (!ctx.has_input(0) || !ctx.has_input(1) || !ctx.has_input(3)) {
    return ctx.InvalidArgument("needs inputs 'X', 'Scale' and 'YGrad'");
  }
  const Tensor& x = ctx.input(0);
  const Tensor& scale_t = ctx.input(1);
  const Tensor& dy_t = ctx.input(3);
  if (dy_t.shape() != x.shape() || dy_t.dtype() != x.dtype() || scale_t.dtype() != x.dtype()) {
    return ctx.InvalidArgument(absl::StrCat("inputs 'X' ", x.TypeString(), ", 'Scale' ",
                                            scale_t.TypeString(), ", 'YGrad' ", dy_t.TypeString(),
                                            "; expected one dtype and YGrad shaped like X"));
  }
  FLEET_ASSIGN_OR_RETURN(int axis, ResolveAxis(ctx, ctx.GetInt("axis", -1), x.rank()));
  const double eps = ctx.GetFloat("epsilon", 1e-5f);
  const std::vector<int64_t> norm_dims(x.shape().begin() + axis, x.shape().end());
  const int64_t d = NumElements(norm_dims);
  const int64_t rows = d == 0 ? 0 : x.numel() / d;
  std::vector<int64_t> scale_at, bias_at;
  if (!BroadcastOffsets(scale_t.shape(), norm_dims, &scale_at)) {
    return ctx.InvalidArgument(absl::StrCat("input 'Scale' ", ShapeString(scale_t.shape()),
                                            " does not broadcast to ", ShapeString(norm_dims)));
  }
  const bool has_b = ctx.has_input(2);
  if (has_b && !BroadcastOffsets(ctx.input(2).shape(), norm_dims, &bias_at)) {
    return ctx.InvalidArgument(absl::StrCat("input 'B' ", ShapeString(ctx.input(2).shape()),
                                            " does not broadcast to ", ShapeString(norm_dims)));
  }
  if (ctx.num_outputs() > 2 && !has_b) {
    return ctx.InvalidArgument("output 'BGrad' needs input 'B' for its shape");
  }
  std::vector<T> scale(d);
  for (int64_t j = 0; j < d; ++j) scale[j] = scale_t.data<T>()[scale_at[j]];
  const T* px = x.data<T>();
  const T* dy = dy_t.data<T>();
  T* dx = ctx.num_outputs() > 0 ? ctx.Output(0, x.dtype(), x.shape())->template data<T>() : nullptr;
  // Per block of rows: partial sums of dy * x^ and dy per column, added up after the loop in
  // block order (deterministic for a given pool size).
  const int threads = ctx.pool() != nullptr ? ctx.pool()->num_threads() : 1;
  const int64_t blocks = std::max<int64_t>(1, std::min<int64_t>(rows, 4 * threads));
  std::vector<T> partial(static_cast<size_t>(2 * blocks * d), T{0});
  ctx.ParallelFor(blocks, 1, [&](int64_t begin, int64_t end) {
    std::vector<T> g(d), xhat(d);
    for (int64_t blk = begin; blk < end; ++blk) {
      T* pscale = partial.data() + 2 * blk * d;
      T* pbias = pscale + d;
      for (int64_t r = blk * rows / blocks; r < (blk + 1) * rows / blocks; ++r) {
        const T* xr = px + r * d;
        const T* dyr = dy + r * d;
        const T m = RowSum(xr, d) / static_cast<T>(d);
        const T inv = static_cast<T>(1.0 / std::sqrt(RowSumSquaredDeviation(xr, m, d) / d + eps));
        LayerNormGradRow(xr, dyr, scale.data(), m, inv, xhat.data(), g.data(), pscale, pbias, d);
        if (dx == nullptr) continue;
        const T mean_g = RowSum(g.data(), d) / static_cast<T>(d);
        const T mean_gx = RowDot(g.data(), xhat.data(), d) / static_cast<T>(d);
        SubScaled(g.data(), xhat.data(), mean_g, mean_gx, inv, dx + r * d, d);
      }
    }
  });
  for (int out = 1; out < ctx.num_outputs() && out <= 2; ++out) {
    const Tensor& like = ctx.input(out == 1 ? 1 : 2);
    const std::vector<int64_t>& at = out == 1 ? scale_at : bias_at;
    T* dst = ctx.Output(out, x.dtype(), like.shape())->template data<T>();
    for (int64_t j = 0; j < like.numel(); ++j) dst[j] = T{0};
    for (int64_t blk = 0; blk < blocks; ++blk) {
      const T* src = partial.data() + (2 * blk + (out - 1)) * d;
      for (int64_t j = 0; j < d; ++j) dst[at[j]] += src[j];
    }
  }
  return absl::OkStatus();
}

}  // namespace

void RegisterNormGradKernels(KernelTable& table) {
  table.Add("fleet.batch_norm_train", Device::kCpu, {DataType::kF32}, &BatchNormTrainKernel<float>);
  table.Add("fleet.batch_norm_train", Device::kCpu, {DataType::kF64},
            &BatchNormTrainKernel<double>);
  table.Add("fleet.batch_norm_grad", Device::kCpu, {DataType::kF32}, &BatchNormGradKernel<float>);
  table.Add("fleet.batch_norm_grad", Device::kCpu, {DataType::kF64}, &BatchNormGradKernel<double>);
  table.Add("fleet.layer_norm_grad", Device::kCpu, {DataType::kF32}, &LayerNormGradKernel<float>);
  table.Add("fleet.layer_norm_grad", Device::kCpu, {DataType::kF64}, &LayerNormGradKernel<double>);
}

}  // namespace fleet::cpu
