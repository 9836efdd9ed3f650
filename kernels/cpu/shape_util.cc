// Shared helpers of the shape and index kernels: the strided copy that Transpose, Expand, Tile,
// Slice and DepthToSpace reduce to, and small readers for integer inputs and axes.
#include "kernels/cpu/shape_util.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "executor/half.h"
#include "ir/bfloat16.h"
#include "kernels/cpu/level_kernels.h"

namespace fleet::cpu {
namespace {

constexpr int64_t kGrainElements = 32 * 1024;
constexpr int64_t kBlock = 32;  // tile edge of the blocked transpose

// Copies rows [row_begin, row_end) of the (shape, strides) problem whose last dim is the row.
template <typename T>
void CopyRows(const char* in, const std::vector<int64_t>& shape,
              const std::vector<int64_t>& strides, T* out, int64_t row_begin, int64_t row_end) {
  const int rank = static_cast<int>(shape.size());
  const int64_t n = shape[rank - 1];
  const int64_t s = strides[rank - 1];
  const T* base = reinterpret_cast<const T*>(in);
  // Multi-index of row_begin over the outer dims, and its input offset.
  std::vector<int64_t> idx(rank - 1, 0);
  int64_t offset = 0;
  int64_t r = row_begin;
  for (int d = rank - 2; d >= 0; --d) {
    idx[d] = r % shape[d];
    r /= shape[d];
    offset += idx[d] * strides[d];
  }
  T* dst = out + row_begin * n;
  for (int64_t row = row_begin; row < row_end; ++row) {
    const T* src = base + offset;
    if (s == 1) {
      std::memcpy(dst, src, n * sizeof(T));
    } else if (s == 0) {
      std::fill(dst, dst + n, *src);
    } else {
      for (int64_t k = 0; k < n; ++k) dst[k] = src[k * s];
    }
    dst += n;
    for (int d = rank - 2; d >= 0; --d) {
      offset += strides[d];
      if (++idx[d] < shape[d]) break;
      offset -= idx[d] * strides[d];
      idx[d] = 0;
    }
  }
}

// out viewed as [outer..., rows, cols] where input strides of the last two dims are (1, ld):
// a batch of 2-D transposes, done in kBlock x kBlock tiles so both sides stay in cache; tiles of
// 4-byte elements are the active instruction-set level's (8x8 register transposes with AVX).
template <typename T>
void CopyTransposed(const KernelContext& ctx, const char* in, const std::vector<int64_t>& shape,
                    const std::vector<int64_t>& strides, T* out) {
  const int rank = static_cast<int>(shape.size());
  const int64_t rows = shape[rank - 2];
  const int64_t cols = shape[rank - 1];
  const int64_t ld = strides[rank - 1];
  const std::vector<int64_t> outer_shape(shape.begin(), shape.end() - 2);
  const std::vector<int64_t> outer_strides(strides.begin(), strides.end() - 2);
  const int64_t outer = NumElements(outer_shape);
  const int64_t row_blocks = (rows + kBlock - 1) / kBlock;
  const T* base = reinterpret_cast<const T*>(in);
  const int64_t grain = std::max<int64_t>(1, kGrainElements / (kBlock * cols));
  ctx.ParallelFor(outer * row_blocks, grain, [&](int64_t begin, int64_t end) {
    for (int64_t task = begin; task < end; ++task) {
      const int64_t o = task / row_blocks;
      const int64_t rb = (task % row_blocks) * kBlock;
      int64_t offset = 0;
      for (int64_t d = static_cast<int64_t>(outer_shape.size()) - 1, rem = o; d >= 0; --d) {
        offset += (rem % outer_shape[d]) * outer_strides[d];
        rem /= outer_shape[d];
      }
      const T* src = base + offset;
      T* dst = out + o * rows * cols;
      const int64_t r_end = std::min(rows, rb + kBlock);
      for (int64_t cb = 0; cb < cols; cb += kBlock) {
        const int64_t c_end = std::min(cols, cb + kBlock);
        if constexpr (sizeof(T) == 4) {
          ActiveLevelKernels().transpose_tile_b32(
              reinterpret_cast<const uint32_t*>(src + rb + cb * ld), ld,
              reinterpret_cast<uint32_t*>(dst + rb * cols + cb), cols, r_end - rb, c_end - cb);
        } else {
          for (int64_t r = rb; r < r_end; ++r) {
            for (int64_t c = cb; c < c_end; ++c) dst[r * cols + c] = src[r + c * ld];
          }
        }
      }
    }
  });
}

}  // namespace

std::vector<int64_t> DenseStrides(const std::vector<int64_t>& shape) {
  std::vector<int64_t> strides(shape.size(), 1);
  for (int d = static_cast<int>(shape.size()) - 2; d >= 0; --d) {
    strides[d] = strides[d + 1] * shape[d + 1];
  }
  return strides;
}

void StridedCopy(const KernelContext& ctx, const void* in, std::vector<int64_t> shape,
                 std::vector<int64_t> in_strides, void* out, size_t element_size) {
  if (NumElements(shape) == 0) return;
  // Drop unit dims, then merge neighbours that are contiguous in the input too.
  std::vector<int64_t> dims, strides;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 1) continue;
    if (!dims.empty() && strides.back() == in_strides[d] * shape[d]) {
      dims.back() *= shape[d];
      strides.back() = in_strides[d];
    } else {
      dims.push_back(shape[d]);
      strides.push_back(in_strides[d]);
    }
  }
  if (dims.empty()) {
    std::memcpy(out, in, element_size);
    return;
  }
  const char* src = static_cast<const char*>(in);
  const int rank = static_cast<int>(dims.size());
  DispatchBySize(element_size, [&](auto tag) {
    using T = decltype(tag);
    T* dst = static_cast<T*>(out);
    if (rank >= 2 && strides[rank - 2] == 1 && strides[rank - 1] != 0 && strides[rank - 1] != 1) {
      CopyTransposed<T>(ctx, src, dims, strides, dst);
      return;
    }
    const int64_t n = dims[rank - 1];
    const int64_t rows = NumElements(dims) / n;
    const int64_t grain = std::max<int64_t>(1, kGrainElements / n);
    ctx.ParallelFor(rows, grain, [&](int64_t begin, int64_t end) {
      CopyRows<T>(src, dims, strides, dst, begin, end);
    });
  });
}

absl::StatusOr<std::vector<int64_t>> ReadInts(const KernelContext& ctx, const Tensor& t,
                                              std::string_view what) {
  std::vector<int64_t> values(t.numel());
  if (t.dtype() == DataType::kI64) {
    std::copy(t.data<int64_t>(), t.data<int64_t>() + t.numel(), values.begin());
  } else if (t.dtype() == DataType::kI32) {
    std::copy(t.data<int32_t>(), t.data<int32_t>() + t.numel(), values.begin());
  } else {
    return ctx.InvalidArgument(absl::StrCat("input '", std::string(what), "' is ", t.TypeString(),
                                            "; expected i64 or i32"));
  }
  return values;
}

double ElementAsDouble(const Tensor& t, int64_t i) {
  switch (t.dtype()) {
    case DataType::kF32:
      return t.data<float>()[i];
    case DataType::kF64:
      return t.data<double>()[i];
    case DataType::kF16:
      return HalfToFloat(t.data<uint16_t>()[i]);
    case DataType::kBF16:
      return BFloat16ToFloat(t.data<uint16_t>()[i]);
    case DataType::kI64:
      return static_cast<double>(t.data<int64_t>()[i]);
    case DataType::kI32:
      return t.data<int32_t>()[i];
    case DataType::kI8:
      return t.data<int8_t>()[i];
    case DataType::kU8:
      return t.data<uint8_t>()[i];
    case DataType::kBool:
      return t.data<uint8_t>()[i] != 0 ? 1 : 0;
    case DataType::kUndefined:
      return 0;
  }
  return 0;
}

int64_t ElementAsInt64(const Tensor& t, int64_t i) {
  switch (t.dtype()) {
    case DataType::kI64:
      return t.data<int64_t>()[i];
    case DataType::kI32:
      return t.data<int32_t>()[i];
    default:
      return static_cast<int64_t>(ElementAsDouble(t, i));
  }
}

absl::StatusOr<SliceSpec> ResolveSlice(const KernelContext& ctx, const std::vector<int64_t>& shape,
                                       int first) {
  FLEET_ASSIGN_OR_RETURN(std::vector<int64_t> starts, ReadInts(ctx, ctx.input(first), "starts"));
  FLEET_ASSIGN_OR_RETURN(std::vector<int64_t> ends, ReadInts(ctx, ctx.input(first + 1), "ends"));
  std::vector<int64_t> axes, steps;
  if (ctx.has_input(first + 2)) {
    FLEET_ASSIGN_OR_RETURN(axes, ReadInts(ctx, ctx.input(first + 2), "axes"));
  } else {
    for (size_t i = 0; i < starts.size(); ++i) axes.push_back(static_cast<int64_t>(i));
  }
  if (ctx.has_input(first + 3)) {
    FLEET_ASSIGN_OR_RETURN(steps, ReadInts(ctx, ctx.input(first + 3), "steps"));
  } else {
    steps.assign(starts.size(), 1);
  }
  if (ends.size() != starts.size() || axes.size() != starts.size() ||
      steps.size() != starts.size()) {
    return ctx.InvalidArgument(absl::StrCat("starts, ends, axes and steps have ", starts.size(),
                                            ", ", ends.size(), ", ", axes.size(), " and ",
                                            steps.size(), " entries; expected equal lengths"));
  }
  const int rank = static_cast<int>(shape.size());
  SliceSpec spec;
  spec.out_shape = shape;
  spec.step.assign(rank, 1);
  spec.start.assign(rank, 0);
  std::vector<bool> seen(rank, false);
  for (size_t i = 0; i < starts.size(); ++i) {
    FLEET_ASSIGN_OR_RETURN(int axis, NormalizeAxis(ctx, axes[i], rank, "slice axis"));
    if (seen[axis]) {
      return ctx.InvalidArgument(
          absl::StrCat("axes [", absl::StrJoin(axes, ","), "] repeat axis ", axis));
    }
    seen[axis] = true;
    const int64_t step = steps[i];
    if (step == 0) return ctx.InvalidArgument(absl::StrCat("steps has 0 at index ", i));
    const int64_t dim = shape[axis];
    int64_t start = starts[i] < 0 ? starts[i] + dim : starts[i];
    int64_t end = ends[i] < 0 ? ends[i] + dim : ends[i];
    int64_t count = 0;
    if (step > 0) {
      start = std::clamp<int64_t>(start, 0, dim);
      end = std::clamp<int64_t>(end, 0, dim);
      if (end > start) count = (end - start + step - 1) / step;
    } else if (dim > 0) {
      start = std::clamp<int64_t>(start, 0, dim - 1);
      end = std::clamp<int64_t>(end, -1, dim - 1);
      if (start > end) count = (start - end + (-step) - 1) / (-step);
    }
    spec.out_shape[axis] = count;
    spec.step[axis] = step;
    spec.start[axis] = count > 0 ? start : 0;
  }
  return spec;
}

absl::StatusOr<int> NormalizeAxis(const KernelContext& ctx, int64_t axis, int rank,
                                  std::string_view what) {
  if (axis < -rank || axis >= rank) {
    return ctx.InvalidArgument(absl::StrCat(std::string(what), " ", axis,
                                            " is out of range for rank ", rank, "; expected [",
                                            -rank, ", ", rank - 1, "]"));
  }
  return static_cast<int>(axis < 0 ? axis + rank : axis);
}

void WriteOne(DataType dtype, void* dst) {
  switch (dtype) {
    case DataType::kF32:
      *static_cast<float*>(dst) = 1.0f;
      break;
    case DataType::kF64:
      *static_cast<double*>(dst) = 1.0;
      break;
    case DataType::kF16:
      *static_cast<uint16_t*>(dst) = 0x3c00;
      break;
    case DataType::kBF16:
      *static_cast<uint16_t*>(dst) = 0x3f80;
      break;
    case DataType::kI64:
      *static_cast<int64_t*>(dst) = 1;
      break;
    case DataType::kI32:
      *static_cast<int32_t*>(dst) = 1;
      break;
    case DataType::kI8:
    case DataType::kU8:
    case DataType::kBool:
      *static_cast<uint8_t*>(dst) = 1;
      break;
    case DataType::kUndefined:
      break;
  }
}

}  // namespace fleet::cpu
