// Kernels that move gradients across broadcasting and reductions:
//   fleet.reduce_to_like(X, Like) -> Out   sums X over the dims broadcasting stretched, giving
//                                          Like's shape (the gradient of a broadcast input);
//   fleet.expand_like(X, Like, Axes?) -> Out  spreads a reduction's gradient X back over Like's
//                                          shape; axes (input Axes or attribute axes), keepdims
//                                          and noop_with_empty_axes as the reduction had them,
//                                          `mean` 1 divides by the number of reduced elements;
//   fleet.reduce_select_grad(X, Out, OutGrad) -> XGrad  ReduceMax / ReduceMin: each OutGrad
//                                          element goes to the first X of its reduced set (in
//                                          row-major order) equal to Out; zero elsewhere.
//
// reduce_to_like merges the dims into alternating runs of summed and kept dims, so the common
// bias gradients are tight loops: [N, C] -> [C] and [B, T, D] -> [D] add rows into the result
// (over column ranges in parallel when rows are long, else over row blocks with partial sums
// added at the end); [N, C] -> [N, 1] sums each row; [N, C, H, W] -> [C, 1, 1] sums runs per
// channel. Other patterns take a general index walk.
#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "kernels/cpu/float_dispatch.h"
#include "kernels/cpu/groups.h"
#include "kernels/cpu/level_loops.h"
#include "kernels/cpu/reduce_axes.h"
#include "kernels/cpu/vec_loops.h"

namespace fleet::cpu {
namespace {

// Strides of `src` (right-aligned against `target`) with 0 where src broadcasts; false when
// src does not broadcast to target.
bool BroadcastStrides(const std::vector<int64_t>& src, const std::vector<int64_t>& target,
                      std::vector<int64_t>* strides) {
  const int rank = static_cast<int>(target.size());
  const int offset = rank - static_cast<int>(src.size());
  if (offset < 0) return false;
  strides->assign(rank, 0);
  int64_t stride = 1;
  for (int d = rank - 1; d >= offset; --d) {
    const int64_t s = src[d - offset];
    if (s == target[d]) {
      (*strides)[d] = s == 1 ? 0 : stride;
    } else if (s != 1) {
      return false;
    }
    stride *= s;
  }
  return true;
}

// Calls fn(i, j) for every index i of `shape` (row-major) with j the matching offset under
// `strides`.
template <typename Fn>
void ForEachIndex(const std::vector<int64_t>& shape, const std::vector<int64_t>& strides, Fn fn) {
  const int rank = static_cast<int>(shape.size());
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  if (n == 0) return;
  std::vector<int64_t> idx(rank, 0);
  int64_t j = 0;
  const int64_t inner = rank == 0 ? 1 : shape[rank - 1];
  const int64_t inner_stride = rank == 0 ? 0 : strides[rank - 1];
  for (int64_t i = 0; i < n; i += inner) {
    for (int64_t k = 0; k < inner; ++k) fn(i + k, j + k * inner_stride);
    for (int d = rank - 2; d >= 0; --d) {
      j += strides[d];
      if (++idx[d] < shape[d]) break;
      j -= strides[d] * shape[d];
      idx[d] = 0;
    }
  }
}

// acc[0, n) += x[0, n).
namespace at_level {
template <typename T>
FLEET_LOOP_INLINE void AddInto(const T* __restrict x, T* __restrict acc, int64_t n) {
  int64_t i = 0;
  for (; i + kVec <= n; i += kVec) {
    for (int j = 0; j < kVec; ++j) acc[i + j] += x[i + j];
  }
  for (; i < n; ++i) acc[i] += x[i];
}
}  // namespace at_level

template <typename T>
void AddInto(const T* x, T* acc, int64_t n) {
  RunLoopAtLevel<LoopOf<&at_level::AddInto<T>>>(x, acc, n);
}

int NumThreads(const KernelContext& ctx) {
  return ctx.pool() == nullptr ? 1 : std::max(1, ctx.pool()->num_threads());
}

// out[c] = sum_r x[r * cols + c]: the bias gradient.
template <typename T>
void SumRows(const KernelContext& ctx, const T* x, int64_t rows, int64_t cols, T* out) {
  constexpr int64_t kWideRow = 2048;  // long enough rows: each thread owns a column range
  const int64_t total = rows * cols;
  if (cols >= kWideRow) {
    ctx.ParallelFor(cols, std::max<int64_t>(kWideRow / 4, GrainFor(rows)),
                    [&](int64_t c0, int64_t c1) {
                      std::fill(out + c0, out + c1, T(0));
                      for (int64_t r = 0; r < rows; ++r)
                        AddInto(x + r * cols + c0, out + c0, c1 - c0);
                    });
    return;
  }
  // Short rows: blocks of rows, each summed into its own partial row.
  const int64_t blocks = std::clamp<int64_t>(total / kParallelGrainElements, 1, NumThreads(ctx));
  std::vector<T> partial((blocks - 1) * cols);
  const int64_t per_block = (rows + blocks - 1) / blocks;
  ctx.ParallelFor(blocks, 1, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      T* acc = b == 0 ? out : partial.data() + (b - 1) * cols;
      std::fill(acc, acc + cols, T(0));
      const int64_t r1 = std::min(rows, (b + 1) * per_block);
      for (int64_t r = b * per_block; r < r1; ++r) AddInto(x + r * cols, acc, cols);
    }
  });
  for (int64_t b = 1; b < blocks; ++b) AddInto(partial.data() + (b - 1) * cols, out, cols);
}

// out[k] = sum_{a, c} x[(a * kept + k) * inner + c]: [outer, kept, inner] summed to [kept]
// (inner == 1 is SumRows' job; outer == 1 is a sum of each row).
template <typename T>
void SumAroundKept(const KernelContext& ctx, const T* x, int64_t outer, int64_t kept, int64_t inner,
                   T* out) {
  ctx.ParallelFor(kept, GrainFor(outer * inner), [&](int64_t k0, int64_t k1) {
    for (int64_t k = k0; k < k1; ++k) {
      T s = T(0);
      for (int64_t a = 0; a < outer; ++a) s += RowSum(x + (a * kept + k) * inner, inner);
      out[k] = s;
    }
  });
}

// The dims of `x` merged into alternating runs, each kept (Like has it) or summed; dims of size
// 1 drop out. Returns {size, kept} pairs, outermost first.
std::vector<std::pair<int64_t, bool>> MergedRuns(const std::vector<int64_t>& x,
                                                 const std::vector<int64_t>& strides) {
  std::vector<std::pair<int64_t, bool>> runs;
  for (size_t d = 0; d < x.size(); ++d) {
    if (x[d] == 1) continue;
    const bool kept = strides[d] != 0;
    if (!runs.empty() && runs.back().second == kept) {
      runs.back().first *= x[d];
    } else {
      runs.push_back({x[d], kept});
    }
  }
  return runs;
}

template <typename T>
absl::Status ReduceToLikeTyped(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  const Tensor& like = ctx.input(1);
  std::vector<int64_t> strides;
  if (!BroadcastStrides(like.shape(), x.shape(), &strides)) {
    return ctx.InvalidArgument(absl::StrCat("cannot sum ", x.TypeString(), " down to ",
                                            like.TypeString(), ": the shapes do not broadcast"));
  }
  if (x.shape() == like.shape()) {
    ctx.SetOutput(0, x);
    return absl::OkStatus();
  }
  Tensor* out = ctx.Output(0, x.dtype(), like.shape());
  T* dst = out->data<T>();
  const T* src = x.data<T>();
  const std::vector<std::pair<int64_t, bool>> runs = MergedRuns(x.shape(), strides);
  const auto is = [&](std::initializer_list<bool> kinds) {
    return runs.size() == kinds.size() &&
           std::equal(kinds.begin(), kinds.end(), runs.begin(),
                      [](bool k, const std::pair<int64_t, bool>& r) { return k == r.second; });
  };
  if (x.numel() == 0) {
    std::fill(dst, dst + out->numel(), T(0));
  } else if (runs.empty() || is({true})) {
    std::copy(src, src + x.numel(), dst);
  } else if (is({false})) {
    dst[0] = RowSum(src, x.numel());
  } else if (is({false, true})) {
    SumRows(ctx, src, runs[0].first, runs[1].first, dst);
  } else if (is({true, false})) {
    SumAroundKept(ctx, src, 1, runs[0].first, runs[1].first, dst);
  } else if (is({false, true, false})) {
    SumAroundKept(ctx, src, runs[0].first, runs[1].first, runs[2].first, dst);
  } else {
    std::fill(dst, dst + out->numel(), T(0));
    ForEachIndex(x.shape(), strides, [&](int64_t i, int64_t j) { dst[j] += src[i]; });
  }
  return absl::OkStatus();
}

// The shape a reduction of `in` keeps (reduced dims as 1) from the op's axes (input `axes_input`
// when present, else attribute axes) and noop_with_empty_axes; `count` gets the number of
// elements reduced into each output.
absl::StatusOr<std::vector<int64_t>> KeptShape(const KernelContext& ctx, const Tensor& in,
                                               int axes_input, int64_t* count) {
  const int rank = in.rank();
  std::vector<int64_t> axes;
  if (axes_input >= 0 && ctx.has_input(axes_input)) {
    const Tensor& a = ctx.input(axes_input);
    if (a.dtype() != DataType::kI64) return ctx.InvalidArgument("input 'Axes' must be i64");
    axes.assign(a.data<int64_t>(), a.data<int64_t>() + a.numel());
  } else {
    axes = ctx.GetInts("axes", {});
  }
  std::vector<bool> reduced(rank, true);
  if (!axes.empty()) {
    auto mask = ResolveAxes(ctx, axes, rank);
    if (!mask.ok()) return mask.status();
    reduced = *mask;
  } else if (ctx.GetInt("noop_with_empty_axes", 0) != 0) {
    reduced.assign(rank, false);
  }
  std::vector<int64_t> kept(rank);
  *count = 1;
  for (int d = 0; d < rank; ++d) {
    kept[d] = reduced[d] ? 1 : in.dim(d);
    if (reduced[d]) *count *= in.dim(d);
  }
  return kept;
}

template <typename T>
absl::Status ExpandLikeTyped(KernelContext& ctx) {
  const Tensor& dy = ctx.input(0);
  const Tensor& like = ctx.input(1);
  int64_t count = 1;
  auto kept = KeptShape(ctx, like, 2, &count);
  if (!kept.ok()) return kept.status();
  if (dy.numel() != NumElements(*kept)) {
    return ctx.InvalidArgument(absl::StrCat("gradient ", dy.TypeString(), " does not match the ",
                                            "reduction of ", like.TypeString()));
  }
  std::vector<int64_t> strides;
  BroadcastStrides(*kept, like.shape(), &strides);
  Tensor* out = ctx.Output(0, dy.dtype(), like.shape());
  const T scale = ctx.GetInt("mean", 0) != 0 && count > 0 ? T(1) / T(count) : T(1);
  const T* src = dy.data<T>();
  T* dst = out->data<T>();
  ForEachIndex(like.shape(), strides, [&](int64_t i, int64_t j) { dst[i] = src[j] * scale; });
  return absl::OkStatus();
}

template <typename T>
absl::Status ReduceSelectGradTyped(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  const Tensor& y = ctx.input(1);
  const Tensor& dy = ctx.input(2);
  int64_t count = 1;
  auto kept = KeptShape(ctx, x, -1, &count);
  if (!kept.ok()) return kept.status();
  const int64_t n = NumElements(*kept);
  if (y.numel() != n || dy.numel() != n || y.dtype() != x.dtype() || dy.dtype() != x.dtype()) {
    return ctx.InvalidArgument(absl::StrCat("output ", y.TypeString(), " and gradient ",
                                            dy.TypeString(), " do not match the reduction of ",
                                            x.TypeString()));
  }
  std::vector<int64_t> strides;
  BroadcastStrides(*kept, x.shape(), &strides);
  Tensor* out = ctx.Output(0, x.dtype(), x.shape());
  T* dst = out->data<T>();
  std::fill(dst, dst + out->numel(), T(0));
  const T* px = x.data<T>();
  const T* py = y.data<T>();
  const T* pg = dy.data<T>();
  std::vector<uint8_t> taken(n, 0);
  ForEachIndex(x.shape(), strides, [&](int64_t i, int64_t j) {
    if (!taken[j] && px[i] == py[j]) {
      dst[i] = pg[j];
      taken[j] = 1;
    }
  });
  return absl::OkStatus();
}

template <template <typename> class Fn, int kInputs>
absl::Status Dispatch(KernelContext& ctx) {
  for (int i = 0; i < kInputs; ++i) {
    if (!ctx.has_input(i)) return ctx.InvalidArgument(absl::StrCat("input ", i, " is missing"));
  }
  return RunForFloatType<Fn>(ctx);
}

template <typename T>
struct ReduceToLike {
  static absl::Status Run(KernelContext& ctx) { return ReduceToLikeTyped<T>(ctx); }
};
template <typename T>
struct ExpandLike {
  static absl::Status Run(KernelContext& ctx) { return ExpandLikeTyped<T>(ctx); }
};
template <typename T>
struct ReduceSelectGrad {
  static absl::Status Run(KernelContext& ctx) { return ReduceSelectGradTyped<T>(ctx); }
};

}  // namespace

void RegisterGradBroadcastKernels(KernelTable& table) {
  const std::vector<DataType> types = {DataType::kF32, DataType::kF64};
  table.Add("fleet.reduce_to_like", Device::kCpu, types, &Dispatch<ReduceToLike, 2>);
  // X already of Like's shape is returned as it is.
  table.SetTraits("fleet.reduce_to_like", Device::kCpu, KernelTraits::Aliases({{0, 0}}));
  table.Add("fleet.expand_like", Device::kCpu, types, &Dispatch<ExpandLike, 2>);
  table.Add("fleet.reduce_select_grad", Device::kCpu, types, &Dispatch<ReduceSelectGrad, 3>);
}

}  // namespace fleet::cpu
