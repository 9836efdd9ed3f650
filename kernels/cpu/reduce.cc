// Reduce* kernels: ReduceSum, ReduceMean, ReduceMax, ReduceMin, ReduceProd, ReduceL1, ReduceL2,
// ReduceLogSum, ReduceLogSumExp, ReduceSumSquare (opset 17 forms; axes come from input 1 when it
// is present, as for ReduceSum-13 and every Reduce* from opset 18, else from the `axes`
// attribute). ArgMax / ArgMin live in arg_reduce.cc.
//
// Every reduction is brought to the form [outer, reduced, inner]: dims of size 1 are dropped and
// adjacent dims that are both reduced or both kept are merged. When the reduced dims do not form
// one block the input is first transposed so that they come last. Two loops then cover all cases:
//   inner == 1 (innermost axes): each output reduces one contiguous row, with lane-split
//                                accumulators the compiler vectorises;
//   inner  > 1 (leading/middle):  rows of `inner` elements are accumulated elementwise into a
//                                block of outputs, again vectorised across the block.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>
#include <vector>

#include "absl/strings/str_cat.h"
#include "ir/status_macros.h"
#include "kernels/cpu/fast_exp.h"
#include "kernels/cpu/groups.h"
#include "kernels/cpu/reduce_axes.h"
#include "kernels/cpu/reduce_internal.h"

namespace fleet::cpu {
namespace {

// Accumulator type for reductions whose result is not an integer (L2, LogSum, LogSumExp).
template <typename T>
using RealAcc = std::conditional_t<std::is_floating_point_v<T>, T, double>;

template <typename T>
constexpr T LowestValue() {
  if constexpr (std::is_floating_point_v<T>)
    return -std::numeric_limits<T>::infinity();
  else
    return std::numeric_limits<T>::lowest();
}
template <typename T>
constexpr T HighestValue() {
  if constexpr (std::is_floating_point_v<T>)
    return std::numeric_limits<T>::infinity();
  else
    return std::numeric_limits<T>::max();
}

// Reduction policies: Init is the identity of Combine; Map transforms each element; Finish turns
// the accumulated value of `n` elements into the output. Combine must be associative (partial
// results of chunks are combined).
template <typename T>
struct SumOp {
  using Acc = T;
  static Acc Init() { return Acc(0); }
  static Acc Map(T x) { return x; }
  static Acc Combine(Acc a, Acc b) { return a + b; }
  static T Finish(Acc a, int64_t) { return a; }
};
template <typename T>
struct MeanOp : SumOp<T> {
  static T Finish(T a, int64_t n) {
    if constexpr (std::is_floating_point_v<T>) {
      return a / static_cast<T>(n);  // n == 0 gives NaN, like NumPy
    } else {
      return n == 0 ? T(0) : static_cast<T>(a / n);
    }
  }
};
template <typename T>
struct SumSquareOp : SumOp<T> {
  static T Map(T x) { return x * x; }
};
template <typename T>
struct L1Op : SumOp<T> {
  static T Map(T x) { return x < T(0) ? -x : x; }
};
template <typename T>
struct L2Op {
  using Acc = RealAcc<T>;
  static Acc Init() { return Acc(0); }
  static Acc Map(T x) { return static_cast<Acc>(x) * static_cast<Acc>(x); }
  static Acc Combine(Acc a, Acc b) { return a + b; }
  static T Finish(Acc a, int64_t) { return static_cast<T>(std::sqrt(a)); }
};
template <typename T>
struct LogSumOp {
  using Acc = RealAcc<T>;
  static Acc Init() { return Acc(0); }
  static Acc Map(T x) { return static_cast<Acc>(x); }
  static Acc Combine(Acc a, Acc b) { return a + b; }
  static T Finish(Acc a, int64_t) { return static_cast<T>(std::log(a)); }
};
template <typename T>
struct ProdOp {
  using Acc = T;
  static Acc Init() { return Acc(1); }
  static Acc Map(T x) { return x; }
  static Acc Combine(Acc a, Acc b) { return a * b; }
  static T Finish(Acc a, int64_t) { return a; }
};
// Max/Min of an empty set are -inf/+inf (the lowest/highest value for integers).
template <typename T>
struct MaxOp {
  using Acc = T;
  static Acc Init() { return LowestValue<T>(); }
  static Acc Map(T x) { return x; }
  static Acc Combine(Acc a, Acc b) { return a < b ? b : a; }
  static T Finish(Acc a, int64_t) { return a; }
};
template <typename T>
struct MinOp {
  using Acc = T;
  static Acc Init() { return HighestValue<T>(); }
  static Acc Map(T x) { return x; }
  static Acc Combine(Acc a, Acc b) { return b < a ? b : a; }
  static T Finish(Acc a, int64_t) { return a; }
};
// Marker for the two-pass, max-shifted log-sum-exp.
template <typename T>
struct LogSumExpOp {};

constexpr int kLanes = 32;       // independent accumulators per row (vectorised)
constexpr int64_t kBlock = 256;  // outputs per column block in the inner > 1 loop

// Reduces the contiguous row x[0, n) to an accumulator (not yet finished).
template <typename Op, typename T>
typename Op::Acc ReduceRow(const T* x, int64_t n) {
  using Acc = typename Op::Acc;
  Acc lanes[kLanes];
  for (int j = 0; j < kLanes; ++j) lanes[j] = Op::Init();
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    for (int j = 0; j < kLanes; ++j) lanes[j] = Op::Combine(lanes[j], Op::Map(x[i + j]));
  }
  Acc acc = Op::Init();
  for (; i < n; ++i) acc = Op::Combine(acc, Op::Map(x[i]));
  // Pairwise combination of the lanes keeps float sums accurate.
  for (int width = kLanes / 2; width > 0; width /= 2) {
    for (int j = 0; j < width; ++j) lanes[j] = Op::Combine(lanes[j], lanes[j + width]);
  }
  return Op::Combine(lanes[0], acc);
}

// y[c] = Finish(reduce_r x[r * stride + c]) for c in [0, w), w <= kBlock.
template <typename Op, typename T>
void ReduceColumns(const T* x, int64_t rows, int64_t stride, int64_t w, T* y) {
  using Acc = typename Op::Acc;
  Acc acc[kBlock];
  for (int64_t c = 0; c < w; ++c) acc[c] = Op::Init();
  for (int64_t r = 0; r < rows; ++r) {
    const T* row = x + r * stride;
    int64_t c = 0;
    for (; c + 16 <= w; c += 16) {
      for (int j = 0; j < 16; ++j) acc[c + j] = Op::Combine(acc[c + j], Op::Map(row[c + j]));
    }
    for (; c < w; ++c) acc[c] = Op::Combine(acc[c], Op::Map(row[c]));
  }
  for (int64_t c = 0; c < w; ++c) y[c] = Op::Finish(acc[c], rows);
}

// log(sum(exp(x))) over a row, shifted by the row max so that exp cannot overflow.
template <typename T>
T LogSumExpRow(const T* x, int64_t n) {
  using Acc = RealAcc<T>;
  if (n == 0) return LowestValue<T>();
  Acc m = static_cast<Acc>(ReduceRow<MaxOp<T>, T>(x, n));
  if (!std::isfinite(m)) return static_cast<T>(m);  // +-inf or NaN
  Acc lanes[16] = {};
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    for (int j = 0; j < 16; ++j) lanes[j] += ExpOf(static_cast<Acc>(x[i + j]) - m);
  }
  Acc s = 0;
  for (; i < n; ++i) s += ExpOf(static_cast<Acc>(x[i]) - m);
  for (int j = 0; j < 16; ++j) s += lanes[j];
  return static_cast<T>(std::log(s) + m);
}

template <typename T>
void LogSumExpColumns(const T* x, int64_t rows, int64_t stride, int64_t w, T* y) {
  using Acc = RealAcc<T>;
  if (rows == 0) {
    for (int64_t c = 0; c < w; ++c) y[c] = LowestValue<T>();
    return;
  }
  Acc m[kBlock];
  Acc s[kBlock];
  for (int64_t c = 0; c < w; ++c) {
    m[c] = -std::numeric_limits<Acc>::infinity();
    s[c] = 0;
  }
  for (int64_t r = 0; r < rows; ++r) {
    const T* row = x + r * stride;
    for (int64_t c = 0; c < w; ++c) m[c] = std::max(m[c], static_cast<Acc>(row[c]));
  }
  for (int64_t r = 0; r < rows; ++r) {
    const T* row = x + r * stride;
    for (int64_t c = 0; c < w; ++c) {
      if (std::isfinite(m[c])) s[c] += ExpOf(static_cast<Acc>(row[c]) - m[c]);
    }
  }
  for (int64_t c = 0; c < w; ++c) {
    y[c] = static_cast<T>(std::isfinite(m[c]) ? std::log(s[c]) + m[c] : m[c]);
  }
}

// Reduces x viewed as [outer, reduced, inner] into y viewed as [outer, inner].
template <typename Op, typename T>
void ReduceBlocks(const KernelContext& ctx, const T* x, int64_t outer, int64_t reduced,
                  int64_t inner, T* y) {
  constexpr bool kLse = std::is_same_v<Op, LogSumExpOp<T>>;
  if (outer == 0 || inner == 0) return;
  if (inner == 1) {
    ThreadPool* pool = ctx.pool();
    if constexpr (!kLse) {
      // Few long rows: split each row into fixed chunks (fixed, so results do not depend on the
      // thread count) and combine the partial accumulators.
      if (pool != nullptr && pool->num_threads() > 1 && outer < pool->num_threads() &&
          reduced >= 4 * kParallelGrainElements) {
        using Acc = typename Op::Acc;
        const int64_t chunks = std::min<int64_t>(reduced / kParallelGrainElements, 256);
        const int64_t len = (reduced + chunks - 1) / chunks;
        std::vector<Acc> partial(outer * chunks);
        ctx.ParallelFor(outer * chunks, 1, [&](int64_t b, int64_t e) {
          for (int64_t k = b; k < e; ++k) {
            int64_t o = k / chunks, c = k % chunks;
            int64_t begin = c * len, end = std::min(reduced, begin + len);
            partial[k] =
                begin < end ? ReduceRow<Op, T>(x + o * reduced + begin, end - begin) : Op::Init();
          }
        });
        for (int64_t o = 0; o < outer; ++o) {
          Acc acc = Op::Init();
          for (int64_t c = 0; c < chunks; ++c) acc = Op::Combine(acc, partial[o * chunks + c]);
          y[o] = Op::Finish(acc, reduced);
        }
        return;
      }
    }
    ctx.ParallelFor(outer, GrainFor(reduced), [&](int64_t b, int64_t e) {
      for (int64_t o = b; o < e; ++o) {
        if constexpr (kLse) {
          y[o] = LogSumExpRow(x + o * reduced, reduced);
        } else {
          y[o] = Op::Finish(ReduceRow<Op, T>(x + o * reduced, reduced), reduced);
        }
      }
    });
    return;
  }
  const int64_t blocks = (inner + kBlock - 1) / kBlock;
  ctx.ParallelFor(outer * blocks, GrainFor(reduced * std::min(inner, kBlock)),
                  [&](int64_t b, int64_t e) {
                    for (int64_t k = b; k < e; ++k) {
                      int64_t o = k / blocks, c0 = (k % blocks) * kBlock;
                      int64_t w = std::min(kBlock, inner - c0);
                      const T* src = x + o * reduced * inner + c0;
                      if constexpr (kLse) {
                        LogSumExpColumns(src, reduced, inner, w, y + o * inner + c0);
                      } else {
                        ReduceColumns<Op, T>(src, reduced, inner, w, y + o * inner + c0);
                      }
                    }
                  });
}

// x viewed as [k0, r1, k1, r2], reduced over r1 and r2 into y viewed as [k0, k1].
template <typename Op, typename T>
void ReduceStridedRows(const KernelContext& ctx, const T* x, int64_t k0, int64_t r1, int64_t k1,
                       int64_t r2, T* y) {
  using Acc = typename Op::Acc;
  ctx.ParallelFor(k0 * k1, GrainFor(r1 * r2), [&](int64_t b, int64_t e) {
    for (int64_t k = b; k < e; ++k) {
      const int64_t o = k / k1, c = k % k1;
      Acc acc = Op::Init();
      for (int64_t r = 0; r < r1; ++r) {
        acc = Op::Combine(acc, ReduceRow<Op, T>(x + ((o * r1 + r) * k1 + c) * r2, r2));
      }
      y[k] = Op::Finish(acc, r1 * r2);
    }
  });
}

// Reads the axes from input 1 (i64/i32, rank <= 1) when present, else from the attribute.
absl::StatusOr<std::vector<int64_t>> ReadAxes(const KernelContext& ctx) {
  if (!ctx.has_input(1)) return ctx.GetInts("axes", {});
  const Tensor& t = ctx.input(1);
  if (t.rank() > 1) {
    return ctx.InvalidArgument(
        absl::StrCat("input 'axes' has shape ", ShapeString(t.shape()), "; expected rank 1"));
  }
  std::vector<int64_t> axes(t.numel());
  if (t.dtype() == DataType::kI64) {
    for (int64_t i = 0; i < t.numel(); ++i) axes[i] = t.data<int64_t>()[i];
  } else if (t.dtype() == DataType::kI32) {
    for (int64_t i = 0; i < t.numel(); ++i) axes[i] = t.data<int32_t>()[i];
  } else {
    return ctx.InvalidArgument(
        absl::StrCat("input 'axes' has type ", t.TypeString(), "; expected i64"));
  }
  return axes;
}

template <typename Op, typename T>
absl::Status RunReduce(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  const int rank = x.rank();
  FLEET_ASSIGN_OR_RETURN(std::vector<int64_t> axes, ReadAxes(ctx));
  const bool keepdims = ctx.GetInt("keepdims", 1) != 0;
  if (axes.empty()) {
    if (ctx.GetInt("noop_with_empty_axes", 0) != 0) {
      ctx.SetOutput(0, x);
      return absl::OkStatus();
    }
    for (int i = 0; i < rank; ++i) axes.push_back(i);
  }
  FLEET_ASSIGN_OR_RETURN(std::vector<bool> reduce, ResolveAxes(ctx, axes, rank));

  std::vector<int64_t> out_shape;
  for (int i = 0; i < rank; ++i) {
    if (!reduce[i])
      out_shape.push_back(x.dim(i));
    else if (keepdims)
      out_shape.push_back(1);
  }
  Tensor* y = ctx.Output(0, x.dtype(), out_shape);

  // Coalesce: drop size-1 dims, merge neighbours of the same kind.
  std::vector<int64_t> dims;
  std::vector<bool> red;
  for (int i = 0; i < rank; ++i) {
    if (x.dim(i) == 1) continue;
    if (!dims.empty() && red.back() == reduce[i]) {
      dims.back() *= x.dim(i);
    } else {
      dims.push_back(x.dim(i));
      red.push_back(reduce[i]);
    }
  }
  const T* src = x.data<T>();
  T* dst = y->data<T>();
  const int n = static_cast<int>(dims.size());
  if (n <= 3 && (n < 3 || !red[0])) {
    // One reduced block at most: [R], [K], [K,R], [R,K] or [K,R,K].
    int64_t outer = 1, reduced = 1, inner = 1;
    int i = 0;
    if (i < n && !red[i]) outer = dims[i++];
    if (i < n && red[i]) reduced = dims[i++];
    if (i < n) inner = dims[i++];
    ReduceBlocks<Op, T>(ctx, src, outer, reduced, inner, dst);
    return absl::OkStatus();
  }
  // [K0,] R1, K1, R2 (e.g. axes {0, 2, 3} of NCHW): each output reduces R1 rows of R2
  // contiguous elements, no copy needed.
  if constexpr (!std::is_same_v<Op, LogSumExpOp<T>>) {
    const int first = red[0] ? 0 : 1;
    if (n - first == 3 && red[first] && red[first + 2]) {
      ReduceStridedRows<Op, T>(ctx, src, first == 1 ? dims[0] : 1, dims[first], dims[first + 1],
                               dims[first + 2], dst);
      return absl::OkStatus();
    }
  }
  // Otherwise: move the reduced blocks last, then reduce rows.
  std::vector<int> perm;
  int64_t kept = 1, reduced = 1;
  for (int i = 0; i < n; ++i) {
    if (!red[i]) {
      perm.push_back(i);
      kept *= dims[i];
    }
  }
  for (int i = 0; i < n; ++i) {
    if (red[i]) {
      perm.push_back(i);
      reduced *= dims[i];
    }
  }
  Tensor moved(x.dtype(), {kept * reduced});
  PermuteCopy(ctx, src, dims, perm, moved.data<T>());
  ReduceBlocks<Op, T>(ctx, moved.data<T>(), kept, reduced, 1, dst);
  return absl::OkStatus();
}

template <template <typename> class Op>
absl::Status ReduceKernel(KernelContext& ctx) {
  switch (ctx.input(0).dtype()) {
    case DataType::kF32:
      return RunReduce<Op<float>, float>(ctx);
    case DataType::kF64:
      return RunReduce<Op<double>, double>(ctx);
    case DataType::kI32:
      return RunReduce<Op<int32_t>, int32_t>(ctx);
    case DataType::kI64:
      return RunReduce<Op<int64_t>, int64_t>(ctx);
    default:
      return ctx.Unimplemented(absl::StrCat("input has type ", ctx.input(0).TypeString(),
                                            "; expected f32, f64, i32 or i64"));
  }
}

}  // namespace

void RegisterReduceKernels(KernelTable& table) {
  const std::vector<DataType> types = {DataType::kF32, DataType::kF64, DataType::kI32,
                                       DataType::kI64};
  table.Add("ReduceSum", Device::kCpu, types, &ReduceKernel<SumOp>);
  table.Add("ReduceMean", Device::kCpu, types, &ReduceKernel<MeanOp>);
  table.Add("ReduceMax", Device::kCpu, types, &ReduceKernel<MaxOp>);
  table.Add("ReduceMin", Device::kCpu, types, &ReduceKernel<MinOp>);
  table.Add("ReduceProd", Device::kCpu, types, &ReduceKernel<ProdOp>);
  table.Add("ReduceL1", Device::kCpu, types, &ReduceKernel<L1Op>);
  table.Add("ReduceL2", Device::kCpu, types, &ReduceKernel<L2Op>);
  table.Add("ReduceLogSum", Device::kCpu, types, &ReduceKernel<LogSumOp>);
  table.Add("ReduceLogSumExp", Device::kCpu, types, &ReduceKernel<LogSumExpOp>);
  table.Add("ReduceSumSquare", Device::kCpu, types, &ReduceKernel<SumSquareOp>);
  // noop_with_empty_axes returns X itself.
  for (const char* op :
       {"ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2",
        "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare"}) {
    table.SetTraits(op, Device::kCpu, KernelTraits::Aliases({{0, 0}}));
  }
  RegisterArgReduceKernels(table);
}

}  // namespace fleet::cpu
