// Shape kernels that cut or join along axes: Slice, Pad, Concat and Split (opset 13+ forms, with
// starts/ends/axes/steps, pads/constant_value and split as inputs). Dtype-agnostic: they copy
// whole elements by size.
#include <algorithm>
#include <limits>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "kernels/cpu/concat_plan.h"
#include "kernels/cpu/shape_util.h"

namespace fleet::cpu {
namespace {

constexpr int64_t kGrainElements = 32 * 1024;

absl::Status SliceKernel(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  const int rank = x.rank();
  FLEET_ASSIGN_OR_RETURN(const SliceSpec spec, ResolveSlice(ctx, x.shape(), 1));
  Tensor* out = ctx.Output(0, x.dtype(), spec.out_shape);
  if (out->numel() == 0) return absl::OkStatus();
  const std::vector<int64_t> dense = DenseStrides(x.shape());
  std::vector<int64_t> strides(rank);
  int64_t offset = 0;
  for (int d = 0; d < rank; ++d) {
    strides[d] = dense[d] * spec.step[d];
    offset += spec.start[d] * dense[d];
  }
  const size_t esize = DataTypeSize(x.dtype());
  StridedCopy(ctx, static_cast<const char*>(x.raw_data()) + offset * esize, spec.out_shape, strides,
              out->raw_data(), esize);
  return absl::OkStatus();
}

absl::Status ConcatKernel(KernelContext& ctx) {
  FLEET_ASSIGN_OR_RETURN(const ConcatPlan plan, PlanConcat(ctx));
  const Tensor& first = ctx.input(0);
  const std::vector<int64_t>& out_shape = plan.out_shape;
  Tensor* out = ctx.Output(0, first.dtype(), out_shape);
  const size_t esize = DataTypeSize(first.dtype());
  const int64_t outer = plan.outer;
  const int64_t out_row = out->numel() / std::max<int64_t>(outer, 1) * esize;
  if (out->numel() == 0) return absl::OkStatus();
  char* dst = static_cast<char*>(out->raw_data());
  const int64_t grain = std::max<int64_t>(1, kGrainElements * 4 / std::max<int64_t>(out_row, 1));
  ctx.ParallelFor(outer, grain, [&](int64_t begin, int64_t end) {
    for (int64_t o = begin; o < end; ++o) {
      char* p = dst + o * out_row;
      for (int i = 0; i < ctx.num_inputs(); ++i) {
        const Tensor& t = ctx.input(i);
        const int64_t row = t.numel() / outer * esize;
        std::memcpy(p, static_cast<const char*>(t.raw_data()) + o * row, row);
        p += row;
      }
    }
  });
  return absl::OkStatus();
}

absl::Status SplitKernel(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  if (x.rank() == 0) return ctx.InvalidArgument("input is a scalar; expected rank >= 1");
  FLEET_ASSIGN_OR_RETURN(int axis, NormalizeAxis(ctx, ctx.GetInt("axis", 0), x.rank()));
  const int n = ctx.num_outputs();
  const int64_t dim = x.dim(axis);
  std::vector<int64_t> sizes;
  if (ctx.has_input(1)) {
    FLEET_ASSIGN_OR_RETURN(sizes, ReadInts(ctx, ctx.input(1), "split"));
    int64_t sum = 0;
    for (int64_t s : sizes) sum += s;
    bool negative = std::any_of(sizes.begin(), sizes.end(), [](int64_t s) { return s < 0; });
    if (static_cast<int>(sizes.size()) != n || sum != dim || negative) {
      return ctx.InvalidArgument(absl::StrCat(
          "split [", absl::StrJoin(sizes, ","), "] for ", n, " outputs of input ", x.TypeString(),
          " on axis ", axis, "; expected ", n, " non-negative sizes summing to ", dim));
    }
  } else {
    if (n <= 0) return ctx.InvalidArgument("expected at least one output");
    // Opset 18 allows a smaller last chunk; equal parts otherwise.
    const int64_t chunk = (dim + n - 1) / n;
    for (int i = 0; i < n; ++i) sizes.push_back(std::clamp<int64_t>(dim - i * chunk, 0, chunk));
  }
  const size_t esize = DataTypeSize(x.dtype());
  int64_t outer = 1;
  for (int d = 0; d < axis; ++d) outer *= x.dim(d);
  int64_t inner = 1;
  for (int d = axis + 1; d < x.rank(); ++d) inner *= x.dim(d);
  const int64_t in_row = dim * inner * esize;
  int64_t offset = 0;
  for (int i = 0; i < n; ++i) {
    std::vector<int64_t> shape = x.shape();
    shape[axis] = sizes[i];
    Tensor* out = ctx.Output(i, x.dtype(), shape);
    const int64_t row = sizes[i] * inner * esize;
    const char* src = static_cast<const char*>(x.raw_data()) + offset;
    char* dst = static_cast<char*>(out->raw_data());
    if (row > 0) {
      const int64_t grain = std::max<int64_t>(1, kGrainElements * 4 / row);
      ctx.ParallelFor(outer, grain, [&](int64_t begin, int64_t end) {
        for (int64_t o = begin; o < end; ++o) std::memcpy(dst + o * row, src + o * in_row, row);
      });
    }
    offset += row;
  }
  return absl::OkStatus();
}

// Source index along one axis for output index i, or -1 for the constant.
int64_t PadSource(int64_t i, int64_t pad_begin, int64_t n, int mode) {
  int64_t s = i - pad_begin;
  if (s >= 0 && s < n) return s;
  if (mode == 0) return -1;
  if (mode == 1) return std::clamp<int64_t>(s, 0, n - 1);  // edge
  if (n == 1) return 0;                                    // reflect
  const int64_t period = 2 * (n - 1);
  s %= period;
  if (s < 0) s += period;
  return s < n ? s : period - s;
}

absl::Status PadKernel(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  const int rank = x.rank();
  const std::string mode_name = ctx.GetString("mode", "constant");
  int mode;
  if (mode_name == "constant") {
    mode = 0;
  } else if (mode_name == "edge") {
    mode = 1;
  } else if (mode_name == "reflect") {
    mode = 2;
  } else {
    return ctx.InvalidArgument(
        absl::StrCat("mode '", mode_name, "'; expected constant, reflect or edge"));
  }
  FLEET_ASSIGN_OR_RETURN(std::vector<int64_t> pads, ReadInts(ctx, ctx.input(1), "pads"));
  std::vector<int64_t> axes;
  if (ctx.has_input(3)) {
    FLEET_ASSIGN_OR_RETURN(axes, ReadInts(ctx, ctx.input(3), "axes"));
  } else {
    for (int d = 0; d < rank; ++d) axes.push_back(d);
  }
  if (pads.size() != 2 * axes.size()) {
    return ctx.InvalidArgument(absl::StrCat("pads [", absl::StrJoin(pads, ","), "] has ",
                                            pads.size(), " entries; expected ", 2 * axes.size(),
                                            " for input ", x.TypeString()));
  }
  std::vector<int64_t> begin(rank, 0), out_shape = x.shape();
  for (size_t i = 0; i < axes.size(); ++i) {
    FLEET_ASSIGN_OR_RETURN(int axis, NormalizeAxis(ctx, axes[i], rank, "pad axis"));
    begin[axis] = pads[i];
    out_shape[axis] = x.dim(axis) + pads[i] + pads[i + axes.size()];
    if (out_shape[axis] < 0 || (mode != 0 && x.dim(axis) == 0 && out_shape[axis] > 0)) {
      return ctx.InvalidArgument(
          absl::StrCat("pads [", absl::StrJoin(pads, ","), "] on input ", x.TypeString(),
                       " give dim ", out_shape[axis], " on axis ", axis,
                       "; expected >= 0 (and a non-empty input for ", mode_name, " mode)"));
    }
  }
  const size_t esize = DataTypeSize(x.dtype());
  uint64_t constant_bits = 0;
  if (ctx.has_input(2) && ctx.input(2).numel() > 0) {
    const Tensor& c = ctx.input(2);
    if (c.dtype() != x.dtype()) {
      return ctx.InvalidArgument(absl::StrCat("constant_value is ", c.TypeString(),
                                              "; expected the data type of input ",
                                              x.TypeString()));
    }
    std::memcpy(&constant_bits, c.raw_data(), esize);
  }
  Tensor* out = ctx.Output(0, x.dtype(), out_shape);
  if (out->numel() == 0) return absl::OkStatus();
  if (rank == 0) {
    std::memcpy(out->raw_data(), x.raw_data(), esize);
    return absl::OkStatus();
  }
  // Per-axis maps from output index to source index (-1: constant).
  std::vector<std::vector<int64_t>> src(rank);
  for (int d = 0; d < rank; ++d) {
    src[d].resize(out_shape[d]);
    for (int64_t i = 0; i < out_shape[d]; ++i) {
      src[d][i] = PadSource(i, begin[d], x.dim(d), mode);
    }
  }
  const std::vector<int64_t> in_strides = DenseStrides(x.shape());
  const int64_t n = out_shape[rank - 1];
  const int64_t rows = out->numel() / n;
  // Row r's index on outer axis d is (r / row_strides[d]) % out_shape[d].
  std::vector<int64_t> row_strides(rank, 1);
  for (int d = rank - 3; d >= 0; --d) row_strides[d] = row_strides[d + 1] * out_shape[d + 1];
  // Output columns [lo, hi) copy a contiguous run of the input row.
  const int64_t lo = std::clamp<int64_t>(begin[rank - 1], 0, n);
  const int64_t hi = std::clamp<int64_t>(begin[rank - 1] + x.dim(rank - 1), lo, n);
  DispatchBySize(esize, [&](auto tag) {
    using T = decltype(tag);
    T constant;
    std::memcpy(&constant, &constant_bits, sizeof(T));
    const T* in = x.data<T>();
    T* dst = out->data<T>();
    ctx.ParallelFor(rows, std::max<int64_t>(1, kGrainElements / n), [&](int64_t rb, int64_t re) {
      for (int64_t r = rb; r < re; ++r) {
        T* row = dst + r * n;
        int64_t offset = 0;
        bool is_constant = false;
        for (int d = rank - 2; d >= 0; --d) {
          const int64_t i = (r / row_strides[d]) % out_shape[d];
          const int64_t s = src[d][i];
          if (s < 0) {
            is_constant = true;
            break;
          }
          offset += s * in_strides[d];
        }
        if (is_constant) {
          std::fill(row, row + n, constant);
          continue;
        }
        const T* in_row = in + offset;
        for (int64_t i = 0; i < lo; ++i) {
          row[i] = src[rank - 1][i] < 0 ? constant : in_row[src[rank - 1][i]];
        }
        if (hi > lo) std::memcpy(row + lo, in_row + (lo - begin[rank - 1]), (hi - lo) * sizeof(T));
        for (int64_t i = hi; i < n; ++i) {
          row[i] = src[rank - 1][i] < 0 ? constant : in_row[src[rank - 1][i]];
        }
      }
    });
  });
  return absl::OkStatus();
}

}  // namespace

void RegisterSlicePadKernels(KernelTable& table) {
  table.AddAnyType("Slice", Device::kCpu, &SliceKernel, 0);
  table.AddAnyType("Concat", Device::kCpu, &ConcatKernel, 0);
  table.AddAnyType("Split", Device::kCpu, &SplitKernel, 0);
  table.AddAnyType("Pad", Device::kCpu, &PadKernel, 0);
}

}  // namespace fleet::cpu
