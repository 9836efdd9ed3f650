// Indexing kernels: Gather, GatherElements, GatherND, ScatterElements, ScatterND, OneHot and
// Compress. Data moves as whole elements by size, so one kernel serves every dtype; Scatter
// reductions (add, mul, max, min) are typed. Every index is bounds-checked: an out-of-range index
// is INVALID_ARGUMENT naming the index and the bound. RegisterIndexKernels also registers
// index_misc.cc (TopK, CumSum, Range, Constant...).
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "executor/half.h"
#include "kernels/cpu/groups.h"
#include "kernels/cpu/shape_util.h"

namespace fleet::cpu {
namespace {

constexpr int64_t kGrainBytes = 128 * 1024;

// Calls fn(const I*) with the index input's data as int32_t or int64_t.
template <typename Fn>
absl::Status WithIndices(const KernelContext& ctx, const Tensor& t, std::string_view what,
                         Fn&& fn) {
  if (t.dtype() == DataType::kI64) return fn(t.data<int64_t>());
  if (t.dtype() == DataType::kI32) return fn(t.data<int32_t>());
  return ctx.InvalidArgument(
      absl::StrCat("input '", std::string(what), "' is ", t.TypeString(), "; expected i64 or i32"));
}

absl::Status OutOfRange(const KernelContext& ctx, std::string_view what, int64_t position,
                        int64_t value, int64_t bound, int axis) {
  return ctx.InvalidArgument(absl::StrCat("index ", value, " at position ", position, " of '",
                                          std::string(what), "' is out of range for axis ", axis,
                                          " of size ", bound, "; expected [", -bound, ", ",
                                          bound - 1, "]"));
}

absl::Status GatherKernel(KernelContext& ctx) {
  const Tensor& data = ctx.input(0);
  const Tensor& indices = ctx.input(1);
  if (data.rank() == 0) return ctx.InvalidArgument("data is a scalar; expected rank >= 1");
  FLEET_ASSIGN_OR_RETURN(int axis, NormalizeAxis(ctx, ctx.GetInt("axis", 0), data.rank()));
  std::vector<int64_t> shape(data.shape().begin(), data.shape().begin() + axis);
  shape.insert(shape.end(), indices.shape().begin(), indices.shape().end());
  shape.insert(shape.end(), data.shape().begin() + axis + 1, data.shape().end());
  const int64_t dim = data.dim(axis);
  const int64_t outer =
      NumElements(std::vector<int64_t>(data.shape().begin(), data.shape().begin() + axis));
  const int64_t n = indices.numel();
  const int64_t row = data.numel() / std::max<int64_t>(1, outer * dim) * DataTypeSize(data.dtype());
  return WithIndices(ctx, indices, "indices", [&](const auto* idx) -> absl::Status {
    for (int64_t i = 0; i < n; ++i) {
      if (idx[i] < -dim || idx[i] >= dim) return OutOfRange(ctx, "indices", i, idx[i], dim, axis);
    }
    Tensor* out = ctx.Output(0, data.dtype(), shape);
    if (out->numel() == 0) return absl::OkStatus();
    const char* src = static_cast<const char*>(data.raw_data());
    char* dst = static_cast<char*>(out->raw_data());
    // Rows of `row` bytes: the embedding-lookup case (outer == 1) is one memcpy per index.
    ctx.ParallelFor(outer * n, std::max<int64_t>(1, kGrainBytes / std::max<int64_t>(row, 1)),
                    [&](int64_t begin, int64_t end) {
                      for (int64_t t = begin; t < end; ++t) {
                        const int64_t o = t / n;
                        int64_t k = idx[t - o * n];
                        if (k < 0) k += dim;
                        std::memcpy(dst + t * row, src + (o * dim + k) * row, row);
                      }
                    });
    return absl::OkStatus();
  });
}

// Checks that `indices` has data's rank and no dim (other than on `axis`) larger than data's.
absl::Status CheckElementsShape(const KernelContext& ctx, const Tensor& data, const Tensor& indices,
                                int axis, std::string_view what) {
  bool ok = indices.rank() == data.rank();
  for (int d = 0; ok && d < data.rank(); ++d) ok = d == axis || indices.dim(d) <= data.dim(d);
  if (!ok) {
    return ctx.InvalidArgument(absl::StrCat(
        "input '", std::string(what), "' is ", indices.TypeString(), "; expected rank ",
        data.rank(), " with dims no larger than data ", data.TypeString(), " off axis ", axis));
  }
  return absl::OkStatus();
}

absl::Status GatherElementsKernel(KernelContext& ctx) {
  const Tensor& data = ctx.input(0);
  const Tensor& indices = ctx.input(1);
  if (data.rank() == 0) return ctx.InvalidArgument("data is a scalar; expected rank >= 1");
  FLEET_ASSIGN_OR_RETURN(int axis, NormalizeAxis(ctx, ctx.GetInt("axis", 0), data.rank()));
  FLEET_RETURN_IF_ERROR(CheckElementsShape(ctx, data, indices, axis, "indices"));
  Tensor* out = ctx.Output(0, data.dtype(), indices.shape());
  const std::vector<int64_t> strides = DenseStrides(data.shape());
  const int64_t dim = data.dim(axis);
  absl::Status status;
  DispatchBySize(DataTypeSize(data.dtype()), [&](auto tag) {
    using T = decltype(tag);
    const T* src = data.data<T>();
    T* dst = out->data<T>();
    status = WithIndices(ctx, indices, "indices", [&](const auto* idx) {
      return ForEachElement(indices.shape(), strides, axis, [&](int64_t e, int64_t offset) {
        int64_t k = idx[e];
        if (k < -dim || k >= dim) return OutOfRange(ctx, "indices", e, k, dim, axis);
        if (k < 0) k += dim;
        dst[e] = src[offset + k * strides[axis]];
        return absl::OkStatus();
      });
    });
  });
  return status;
}

enum class Reduction { kNone, kAdd, kMul, kMax, kMin };

absl::StatusOr<Reduction> ParseReduction(const KernelContext& ctx) {
  const std::string r = ctx.GetString("reduction", "none");
  if (r == "none") return Reduction::kNone;
  if (r == "add") return Reduction::kAdd;
  if (r == "mul") return Reduction::kMul;
  if (r == "max") return Reduction::kMax;
  if (r == "min") return Reduction::kMin;
  return ctx.InvalidArgument(
      absl::StrCat("reduction '", r, "'; expected none, add, mul, max or min"));
}

template <typename T>
void Combine(Reduction r, T& dst, T v) {
  switch (r) {
    case Reduction::kNone:
      dst = v;
      break;
    case Reduction::kAdd:
      dst = dst + v;
      break;
    case Reduction::kMul:
      dst = dst * v;
      break;
    case Reduction::kMax:
      dst = std::max(dst, v);
      break;
    case Reduction::kMin:
      dst = std::min(dst, v);
      break;
  }
}

// Calls fn(T{}) with the element type used to apply `reduction`: an unsigned type of the element
// size for kNone (a plain copy), the arithmetic type otherwise.
template <typename Fn>
absl::Status DispatchScatter(const KernelContext& ctx, DataType dtype, Reduction reduction,
                             Fn&& fn) {
  if (reduction == Reduction::kNone) {
    absl::Status s;
    DispatchBySize(DataTypeSize(dtype), [&](auto tag) { s = fn(tag); });
    return s;
  }
  switch (dtype) {
    case DataType::kF32:
      return fn(float{});
    case DataType::kF64:
      return fn(double{});
    case DataType::kI32:
      return fn(int32_t{});
    case DataType::kI64:
      return fn(int64_t{});
    default:
      return ctx.InvalidArgument(absl::StrCat("reduction on ", std::string(DataTypeName(dtype)),
                                              " data; expected f32, f64, i32 or i64"));
  }
}

absl::Status ScatterElementsKernel(KernelContext& ctx) {
  const Tensor& data = ctx.input(0);
  const Tensor& indices = ctx.input(1);
  const Tensor& updates = ctx.input(2);
  if (data.rank() == 0) return ctx.InvalidArgument("data is a scalar; expected rank >= 1");
  FLEET_ASSIGN_OR_RETURN(int axis, NormalizeAxis(ctx, ctx.GetInt("axis", 0), data.rank()));
  FLEET_ASSIGN_OR_RETURN(Reduction reduction, ParseReduction(ctx));
  FLEET_RETURN_IF_ERROR(CheckElementsShape(ctx, data, indices, axis, "indices"));
  if (updates.shape() != indices.shape() || updates.dtype() != data.dtype()) {
    return ctx.InvalidArgument(absl::StrCat("updates is ", updates.TypeString(), "; expected ",
                                            std::string(DataTypeName(data.dtype())),
                                            ShapeString(indices.shape()), " like indices"));
  }
  Tensor out = data.Clone();
  const std::vector<int64_t> strides = DenseStrides(data.shape());
  const int64_t dim = data.dim(axis);
  FLEET_RETURN_IF_ERROR(DispatchScatter(ctx, data.dtype(), reduction, [&](auto tag) {
    using T = decltype(tag);
    const T* src = updates.data<T>();
    T* dst = out.data<T>();
    return WithIndices(ctx, indices, "indices", [&](const auto* idx) {
      return ForEachElement(indices.shape(), strides, axis, [&](int64_t e, int64_t offset) {
        int64_t k = idx[e];
        if (k < -dim || k >= dim) return OutOfRange(ctx, "indices", e, k, dim, axis);
        if (k < 0) k += dim;
        Combine<T>(reduction, dst[offset + k * strides[axis]], src[e]);
        return absl::OkStatus();
      });
    });
  }));
  ctx.SetOutput(0, std::move(out));
  return absl::OkStatus();
}

// Resolves the index tuples of GatherND / ScatterND: for tuple j, the element offset into data
// of the slice it names (within its batch, see batch_stride). Errors name the bad index.
absl::Status TupleOffsets(const KernelContext& ctx, const Tensor& data, const Tensor& indices,
                          int batch_dims, std::vector<int64_t>* offsets) {
  const int64_t m = indices.dim(-1);
  const int64_t tuples =
      NumElements(std::vector<int64_t>(indices.shape().begin(), indices.shape().end() - 1));
  const std::vector<int64_t> strides = DenseStrides(data.shape());
  offsets->assign(tuples, 0);
  return WithIndices(ctx, indices, "indices", [&](const auto* idx) -> absl::Status {
    for (int64_t j = 0; j < tuples && m > 0; ++j) {
      int64_t offset = 0;
      for (int64_t k = 0; k < m; ++k) {
        const int axis = batch_dims + static_cast<int>(k);
        const int64_t dim = data.dim(axis);
        int64_t v = idx[j * m + k];
        if (v < -dim || v >= dim) return OutOfRange(ctx, "indices", j * m + k, v, dim, axis);
        if (v < 0) v += dim;
        offset += v * strides[axis];
      }
      (*offsets)[j] = offset;
    }
    return absl::OkStatus();
  });
}

absl::Status GatherNDKernel(KernelContext& ctx) {
  const Tensor& data = ctx.input(0);
  const Tensor& indices = ctx.input(1);
  const int64_t b = ctx.GetInt("batch_dims", 0);
  bool ok = indices.rank() >= 1 && b >= 0 && b < indices.rank() && b < data.rank();
  for (int d = 0; ok && d < b; ++d) ok = data.dim(d) == indices.dim(d);
  if (ok) ok = indices.dim(-1) <= data.rank() - b;
  if (!ok) {
    return ctx.InvalidArgument(absl::StrCat(
        "indices ", indices.TypeString(), " with batch_dims ", b, " on data ", data.TypeString(),
        "; expected matching leading batch dims and a last dim <= ", data.rank() - b));
  }
  const int bd = static_cast<int>(b);
  const int64_t m = indices.dim(-1);
  std::vector<int64_t> shape(indices.shape().begin(), indices.shape().end() - 1);
  shape.insert(shape.end(), data.shape().begin() + bd + m, data.shape().end());
  std::vector<int64_t> offsets;
  FLEET_RETURN_IF_ERROR(TupleOffsets(ctx, data, indices, bd, &offsets));
  Tensor* out = ctx.Output(0, data.dtype(), shape);
  const size_t esize = DataTypeSize(data.dtype());
  const int64_t batches =
      NumElements(std::vector<int64_t>(data.shape().begin(), data.shape().begin() + bd));
  const int64_t batch_stride = data.numel() / std::max<int64_t>(batches, 1);
  const int64_t per_batch = static_cast<int64_t>(offsets.size()) / std::max<int64_t>(batches, 1);
  const int64_t slice =
      NumElements(std::vector<int64_t>(data.shape().begin() + bd + m, data.shape().end())) * esize;
  const char* src = static_cast<const char*>(data.raw_data());
  char* dst = static_cast<char*>(out->raw_data());
  for (size_t j = 0; j < offsets.size(); ++j) {
    const int64_t batch = static_cast<int64_t>(j) / std::max<int64_t>(per_batch, 1);
    std::memcpy(dst + j * slice, src + (batch * batch_stride + offsets[j]) * esize, slice);
  }
  return absl::OkStatus();
}

absl::Status ScatterNDKernel(KernelContext& ctx) {
  const Tensor& data = ctx.input(0);
  const Tensor& indices = ctx.input(1);
  const Tensor& updates = ctx.input(2);
  FLEET_ASSIGN_OR_RETURN(Reduction reduction, ParseReduction(ctx));
  if (indices.rank() < 1 || indices.dim(-1) > data.rank()) {
    return ctx.InvalidArgument(absl::StrCat("indices ", indices.TypeString(), " on data ",
                                            data.TypeString(), "; expected rank >= 1 and a ",
                                            "last dim <= ", data.rank()));
  }
  const int64_t m = indices.dim(-1);
  std::vector<int64_t> expected(indices.shape().begin(), indices.shape().end() - 1);
  expected.insert(expected.end(), data.shape().begin() + m, data.shape().end());
  if (updates.shape() != expected || updates.dtype() != data.dtype()) {
    return ctx.InvalidArgument(absl::StrCat("updates is ", updates.TypeString(), "; expected ",
                                            std::string(DataTypeName(data.dtype())),
                                            ShapeString(expected)));
  }
  std::vector<int64_t> offsets;
  FLEET_RETURN_IF_ERROR(TupleOffsets(ctx, data, indices, 0, &offsets));
  Tensor out = data.Clone();
  const int64_t slice =
      NumElements(std::vector<int64_t>(data.shape().begin() + m, data.shape().end()));
  FLEET_RETURN_IF_ERROR(DispatchScatter(ctx, data.dtype(), reduction, [&](auto tag) {
    using T = decltype(tag);
    const T* src = updates.data<T>();
    T* dst = out.data<T>();
    for (size_t j = 0; j < offsets.size(); ++j) {
      for (int64_t i = 0; i < slice; ++i)
        Combine<T>(reduction, dst[offsets[j] + i], src[j * slice + i]);
    }
    return absl::OkStatus();
  }));
  ctx.SetOutput(0, std::move(out));
  return absl::OkStatus();
}

absl::Status OneHotKernel(KernelContext& ctx) {
  const Tensor& indices = ctx.input(0);
  const Tensor& depth_t = ctx.input(1);
  const Tensor& values = ctx.input(2);
  if (depth_t.numel() != 1 || values.numel() != 2) {
    return ctx.InvalidArgument(absl::StrCat("depth is ", depth_t.TypeString(), " and values ",
                                            values.TypeString(),
                                            "; expected one depth and two values [off, on]"));
  }
  const int64_t depth = ElementAsInt64(depth_t, 0);
  if (depth < 0) return ctx.InvalidArgument(absl::StrCat("depth ", depth, "; expected >= 0"));
  const int out_rank = indices.rank() + 1;
  FLEET_ASSIGN_OR_RETURN(int axis, NormalizeAxis(ctx, ctx.GetInt("axis", -1), out_rank));
  std::vector<int64_t> shape = indices.shape();
  shape.insert(shape.begin() + axis, depth);
  FLEET_RETURN_IF_ERROR(ctx.CheckOutputSize(shape, values.dtype()));
  Tensor* out = ctx.Output(0, values.dtype(), shape);
  const int64_t inner =
      NumElements(std::vector<int64_t>(indices.shape().begin() + axis, indices.shape().end()));
  DispatchBySize(DataTypeSize(values.dtype()), [&](auto tag) {
    using T = decltype(tag);
    const T off = values.data<T>()[0];
    const T on = values.data<T>()[1];
    T* dst = out->data<T>();
    std::fill(dst, dst + out->numel(), off);
    for (int64_t e = 0; e < indices.numel(); ++e) {
      int64_t k = ElementAsInt64(indices, e);
      if (k < 0) k += depth;
      if (k < 0 || k >= depth) continue;  // ONNX: out-of-range indices give an all-off row
      const int64_t o = e / inner, i = e % inner;
      dst[(o * depth + k) * inner + i] = on;
    }
  });
  return absl::OkStatus();
}

absl::Status CompressKernel(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  const Tensor& cond = ctx.input(1);
  const bool has_axis = ctx.HasAttr("axis");
  int axis = 0;
  std::vector<int64_t> view = {x.numel()};
  if (has_axis) {
    FLEET_ASSIGN_OR_RETURN(axis, NormalizeAxis(ctx, ctx.GetInt("axis", 0), x.rank()));
    view = x.shape();
  }
  if (cond.rank() != 1 || cond.numel() > view[axis]) {
    return ctx.InvalidArgument(absl::StrCat("condition is ", cond.TypeString(),
                                            "; expected rank 1 with at most ", view[axis],
                                            " entries"));
  }
  std::vector<int64_t> selected;
  for (int64_t i = 0; i < cond.numel(); ++i) {
    if (ElementAsDouble(cond, i) != 0) selected.push_back(i);
  }
  std::vector<int64_t> shape = view;
  shape[axis] = static_cast<int64_t>(selected.size());
  Tensor* out = ctx.Output(0, x.dtype(), shape);
  const size_t esize = DataTypeSize(x.dtype());
  const int64_t outer = NumElements(std::vector<int64_t>(view.begin(), view.begin() + axis));
  const int64_t inner =
      NumElements(std::vector<int64_t>(view.begin() + axis + 1, view.end())) * esize;
  const char* src = static_cast<const char*>(x.raw_data());
  char* dst = static_cast<char*>(out->raw_data());
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t k : selected) {
      std::memcpy(dst, src + (o * view[axis] + k) * inner, inner);
      dst += inner;
    }
  }
  return absl::OkStatus();
}

}  // namespace

void RegisterIndexKernels(KernelTable& table) {
  table.AddAnyType("Gather", Device::kCpu, &GatherKernel, 0);
  table.AddAnyType("GatherElements", Device::kCpu, &GatherElementsKernel, 0);
  table.AddAnyType("GatherND", Device::kCpu, &GatherNDKernel, 0);
  table.AddAnyType("ScatterElements", Device::kCpu, &ScatterElementsKernel, 0);
  // Scatter (deprecated since opset 11) is ScatterElements without reduction.
  table.AddAnyType("Scatter", Device::kCpu, &ScatterElementsKernel, 0);
  table.AddAnyType("ScatterND", Device::kCpu, &ScatterNDKernel, 0);
  table.AddAnyType("OneHot", Device::kCpu, &OneHotKernel, 2);
  table.AddAnyType("Compress", Device::kCpu, &CompressKernel, 0);
  RegisterIndexMiscKernels(table);
}

}  // namespace fleet::cpu
