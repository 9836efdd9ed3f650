// Index-producing and constant kernels: TopK (stable: ties keep the lower index first), CumSum,
// Range, Constant, ConstantOfShape, NonZero, Trilu and EyeLike. TopK, CumSum and Range are typed
// (f32, f64, i32, i64); the rest work on bytes for every dtype.
#include <algorithm>
#include <cmath>
#include <numeric>

#include "absl/strings/str_cat.h"
#include "kernels/cpu/shape_util.h"

namespace fleet::cpu {
namespace {

constexpr int64_t kGrainElements = 32 * 1024;

template <typename T>
bool IsNan(T v) {
  if constexpr (std::is_floating_point_v<T>) {
    return std::isnan(v);
  } else {
    return false;
  }
}

template <typename T>
absl::Status TopKKernel(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  if (x.rank() == 0) return ctx.InvalidArgument("input is a scalar; expected rank >= 1");
  FLEET_ASSIGN_OR_RETURN(std::vector<int64_t> k_values, ReadInts(ctx, ctx.input(1), "K"));
  FLEET_ASSIGN_OR_RETURN(int axis, NormalizeAxis(ctx, ctx.GetInt("axis", -1), x.rank()));
  const int64_t dim = x.dim(axis);
  if (k_values.size() != 1 || k_values[0] < 0 || k_values[0] > dim) {
    return ctx.InvalidArgument(absl::StrCat(
        "K has ", k_values.size(), " values (first ", k_values.empty() ? 0 : k_values[0],
        "); expected one value in [0, ", dim, "] for input ", x.TypeString(), " axis ", axis));
  }
  const int64_t k = k_values[0];
  const bool largest = ctx.GetInt("largest", 1) != 0;
  std::vector<int64_t> shape = x.shape();
  shape[axis] = k;
  Tensor* values = ctx.Output(0, x.dtype(), shape);
  Tensor* indices = ctx.Output(1, DataType::kI64, shape);
  const int64_t outer =
      NumElements(std::vector<int64_t>(x.shape().begin(), x.shape().begin() + axis));
  const int64_t inner =
      NumElements(std::vector<int64_t>(x.shape().begin() + axis + 1, x.shape().end()));
  if (k == 0 || values->numel() == 0) return absl::OkStatus();
  const T* src = x.data<T>();
  T* out_v = values->data<T>();
  int64_t* out_i = indices->data<int64_t>();
  ctx.ParallelFor(outer * inner, std::max<int64_t>(1, kGrainElements / std::max<int64_t>(dim, 1)),
                  [&](int64_t begin, int64_t end) {
                    std::vector<T> column(dim);
                    std::vector<int64_t> order(dim);
                    for (int64_t t = begin; t < end; ++t) {
                      const int64_t o = t / inner, i = t % inner;
                      const T* base = src + o * dim * inner + i;
                      for (int64_t j = 0; j < dim; ++j) column[j] = base[j * inner];
                      std::iota(order.begin(), order.end(), int64_t{0});
                      // A total order (value, then index) makes the selection stable without
                      // stable_sort. NaN ranks above every number, as in NumPy's sort.
                      auto before = [&](int64_t a, int64_t b) {
                        const T va = column[a], vb = column[b];
                        const bool na = IsNan(va), nb = IsNan(vb);
                        if (na || nb) {
                          if (na == nb) return a < b;
                          return largest ? na : nb;
                        }
                        if (va != vb) return largest ? va > vb : va < vb;
                        return a < b;
                      };
                      std::partial_sort(order.begin(), order.begin() + k, order.end(), before);
                      for (int64_t j = 0; j < k; ++j) {
                        const int64_t pos = (o * k + j) * inner + i;
                        out_v[pos] = column[order[j]];
                        out_i[pos] = order[j];
                      }
                    }
                  });
  return absl::OkStatus();
}

template <typename T>
absl::Status CumSumKernel(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  FLEET_ASSIGN_OR_RETURN(std::vector<int64_t> axis_values, ReadInts(ctx, ctx.input(1), "axis"));
  if (axis_values.size() != 1) {
    return ctx.InvalidArgument(
        absl::StrCat("axis has ", axis_values.size(), " values; expected one"));
  }
  if (x.rank() == 0) return ctx.InvalidArgument("input is a scalar; expected rank >= 1");
  FLEET_ASSIGN_OR_RETURN(int axis, NormalizeAxis(ctx, axis_values[0], x.rank()));
  const bool exclusive = ctx.GetInt("exclusive", 0) != 0;
  const bool reverse = ctx.GetInt("reverse", 0) != 0;
  Tensor* out = ctx.Output(0, x.dtype(), x.shape());
  const int64_t dim = x.dim(axis);
  const int64_t outer =
      NumElements(std::vector<int64_t>(x.shape().begin(), x.shape().begin() + axis));
  const int64_t inner =
      NumElements(std::vector<int64_t>(x.shape().begin() + axis + 1, x.shape().end()));
  if (out->numel() == 0) return absl::OkStatus();
  const T* src = x.data<T>();
  T* dst = out->data<T>();
  ctx.ParallelFor(outer, std::max<int64_t>(1, kGrainElements / (dim * inner)),
                  [&](int64_t begin, int64_t end) {
                    for (int64_t o = begin; o < end; ++o) {
                      const T* in = src + o * dim * inner;
                      T* y = dst + o * dim * inner;
                      // Rows along the axis in visiting order; each row adds to the previous output
                      // row, which the compiler vectorises across `inner`.
                      for (int64_t step = 0; step < dim; ++step) {
                        const int64_t j = reverse ? dim - 1 - step : step;
                        const int64_t prev = reverse ? j + 1 : j - 1;
                        T* row = y + j * inner;
                        if (step == 0) {
                          for (int64_t i = 0; i < inner; ++i)
                            row[i] = exclusive ? T(0) : in[j * inner + i];
                          continue;
                        }
                        const T* prev_out = y + prev * inner;
                        const T* add = in + (exclusive ? prev : j) * inner;
                        for (int64_t i = 0; i < inner; ++i) row[i] = prev_out[i] + add[i];
                      }
                    }
                  });
  return absl::OkStatus();
}

template <typename T>
absl::Status RangeKernel(KernelContext& ctx) {
  for (int i = 0; i < 3; ++i) {
    if (ctx.input(i).numel() != 1 || ctx.input(i).dtype() != ctx.input(0).dtype()) {
      return ctx.InvalidArgument(absl::StrCat("input ", i, " is ", ctx.input(i).TypeString(),
                                              "; expected a scalar of the type of input 0"));
    }
  }
  const T start = *ctx.input(0).data<T>();
  const T limit = *ctx.input(1).data<T>();
  const T delta = *ctx.input(2).data<T>();
  if (delta == T(0)) return ctx.InvalidArgument("delta is 0; expected a non-zero step");
  int64_t n = 0;
  if constexpr (std::is_integral_v<T>) {
    if (delta > 0 && limit > start) n = (int64_t{limit} - start + delta - 1) / delta;
    if (delta < 0 && limit < start) n = (int64_t{start} - limit - delta - 1) / -int64_t{delta};
  } else {
    n = std::max<int64_t>(0, static_cast<int64_t>(std::ceil((double{limit} - start) / delta)));
  }
  FLEET_RETURN_IF_ERROR(ctx.CheckOutputSize({n}, ctx.input(0).dtype()));
  Tensor* out = ctx.Output(0, ctx.input(0).dtype(), {n});
  T* y = out->data<T>();
  for (int64_t i = 0; i < n; ++i) y[i] = static_cast<T>(start + static_cast<T>(i) * delta);
  return absl::OkStatus();
}

absl::Status ConstantKernel(KernelContext& ctx) {
  if (const TensorValue* value = ctx.GetTensor("value")) {
    if (value->bytes.size() != value->NumElements() * DataTypeSize(value->dtype)) {
      return ctx.InvalidArgument(
          absl::StrCat("attribute 'value' holds ", value->bytes.size(), " bytes; expected ",
                       value->NumElements() * DataTypeSize(value->dtype), " for ",
                       std::string(DataTypeName(value->dtype)), ShapeString(value->shape)));
    }
    ctx.SetOutput(0, Tensor::FromValue(*value));
  } else if (ctx.HasAttr("value_float")) {
    ctx.SetOutput(0, Tensor::Scalar<float>(DataType::kF32, ctx.GetFloat("value_float", 0)));
  } else if (ctx.HasAttr("value_int")) {
    ctx.SetOutput(0, Tensor::Scalar<int64_t>(DataType::kI64, ctx.GetInt("value_int", 0)));
  } else if (ctx.HasAttr("value_floats")) {
    std::vector<float> v = ctx.GetFloats("value_floats", {});
    Tensor* out = ctx.Output(0, DataType::kF32, {static_cast<int64_t>(v.size())});
    std::copy(v.begin(), v.end(), out->data<float>());
  } else if (ctx.HasAttr("value_ints")) {
    std::vector<int64_t> v = ctx.GetInts("value_ints", {});
    Tensor* out = ctx.Output(0, DataType::kI64, {static_cast<int64_t>(v.size())});
    std::copy(v.begin(), v.end(), out->data<int64_t>());
  } else {
    return ctx.Unimplemented(
        "expected attribute value, value_float(s) or value_int(s); sparse and string "
        "constants are not supported");
  }
  return absl::OkStatus();
}

absl::Status ConstantOfShapeKernel(KernelContext& ctx) {
  FLEET_ASSIGN_OR_RETURN(std::vector<int64_t> shape, ReadInts(ctx, ctx.input(0), "input"));
  FLEET_RETURN_IF_ERROR(ctx.CheckOutputSize(shape, DataType::kF64));  // the widest value type
  for (int64_t d : shape) {
    if (d < 0) {
      return ctx.InvalidArgument(
          absl::StrCat("shape ", ShapeString(shape), " has a negative dim; expected >= 0"));
    }
  }
  DataType dtype = DataType::kF32;
  uint64_t bits = 0;
  if (const TensorValue* value = ctx.GetTensor("value")) {
    const size_t esize = DataTypeSize(value->dtype);
    if (value->NumElements() != 1 || value->bytes.size() != esize) {
      return ctx.InvalidArgument(absl::StrCat("attribute 'value' is ",
                                              std::string(DataTypeName(value->dtype)),
                                              ShapeString(value->shape), "; expected one element"));
    }
    dtype = value->dtype;
    std::memcpy(&bits, value->bytes.data(), esize);
  }
  Tensor* out = ctx.Output(0, dtype, shape);
  DispatchBySize(DataTypeSize(dtype), [&](auto tag) {
    using T = decltype(tag);
    T v;
    std::memcpy(&v, &bits, sizeof(T));
    std::fill(out->data<T>(), out->data<T>() + out->numel(), v);
  });
  return absl::OkStatus();
}

absl::Status NonZeroKernel(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  std::vector<int64_t> hits;
  DispatchBySize(DataTypeSize(x.dtype()), [&](auto tag) {
    using T = decltype(tag);
    // A float is non-zero when any bit but the sign is set (so -0.0 counts as zero).
    const T mask = IsFloatingPoint(x.dtype()) ? static_cast<T>(~T(0) >> 1) : static_cast<T>(~T(0));
    const T* p = x.data<T>();
    for (int64_t i = 0; i < x.numel(); ++i) {
      if ((p[i] & mask) != 0) hits.push_back(i);
    }
  });
  const int rank = x.rank();
  const int64_t nnz = static_cast<int64_t>(hits.size());
  Tensor* out = ctx.Output(0, DataType::kI64, {std::max(rank, 1), nnz});
  int64_t* y = out->data<int64_t>();
  if (rank == 0) {
    std::fill(y, y + nnz, 0);
    return absl::OkStatus();
  }
  for (int64_t j = 0; j < nnz; ++j) {
    int64_t rem = hits[j];
    for (int d = rank - 1; d >= 0; --d) {
      y[d * nnz + j] = rem % x.dim(d);
      rem /= x.dim(d);
    }
  }
  return absl::OkStatus();
}

absl::Status TriluKernel(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  if (x.rank() < 2) {
    return ctx.InvalidArgument(absl::StrCat("input is ", x.TypeString(), "; expected rank >= 2"));
  }
  int64_t k = 0;
  if (ctx.has_input(1)) {
    FLEET_ASSIGN_OR_RETURN(std::vector<int64_t> kv, ReadInts(ctx, ctx.input(1), "k"));
    if (kv.size() != 1) return ctx.InvalidArgument("k has several values; expected a scalar");
    k = kv[0];
  }
  const bool upper = ctx.GetInt("upper", 1) != 0;
  Tensor out = x.Clone();
  const int64_t rows = x.dim(-2), cols = x.dim(-1);
  const int64_t mats = x.numel() / std::max<int64_t>(1, rows * cols);
  const size_t esize = DataTypeSize(x.dtype());
  char* y = static_cast<char*>(out.raw_data());
  for (int64_t m = 0; m < mats; ++m) {
    for (int64_t i = 0; i < rows; ++i) {
      char* row = y + (m * rows + i) * cols * esize;
      // upper keeps j >= i + k; lower keeps j <= i + k.
      const int64_t lo = upper ? 0 : std::clamp<int64_t>(i + k + 1, 0, cols);
      const int64_t hi = upper ? std::clamp<int64_t>(i + k, 0, cols) : cols;
      if (hi > lo) std::memset(row + lo * esize, 0, (hi - lo) * esize);
    }
  }
  ctx.SetOutput(0, std::move(out));
  return absl::OkStatus();
}

absl::Status EyeLikeKernel(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  if (x.rank() != 2) {
    return ctx.InvalidArgument(absl::StrCat("input is ", x.TypeString(), "; expected rank 2"));
  }
  DataType dtype = x.dtype();
  if (ctx.HasAttr("dtype")) {
    const int64_t onnx_type = ctx.GetInt("dtype", 0);
    std::optional<DataType> t = DataTypeFromOnnx(static_cast<int>(onnx_type));
    if (!t) {
      return ctx.InvalidArgument(
          absl::StrCat("dtype ", onnx_type, " is not a tensor type Fleet supports"));
    }
    dtype = *t;
  }
  const int64_t k = ctx.GetInt("k", 0);
  Tensor out = Tensor::Zeros(dtype, x.shape());
  const size_t esize = DataTypeSize(dtype);
  char* y = static_cast<char*>(out.raw_data());
  for (int64_t i = 0; i < x.dim(0); ++i) {
    const int64_t j = i + k;
    if (j >= 0 && j < x.dim(1)) WriteOne(dtype, y + (i * x.dim(1) + j) * esize);
  }
  ctx.SetOutput(0, std::move(out));
  return absl::OkStatus();
}

}  // namespace

void RegisterIndexMiscKernels(KernelTable& table) {
  table.Add("TopK", Device::kCpu, {DataType::kF32}, &TopKKernel<float>);
  table.Add("TopK", Device::kCpu, {DataType::kF64}, &TopKKernel<double>);
  table.Add("TopK", Device::kCpu, {DataType::kI32}, &TopKKernel<int32_t>);
  table.Add("TopK", Device::kCpu, {DataType::kI64}, &TopKKernel<int64_t>);
  table.Add("CumSum", Device::kCpu, {DataType::kF32}, &CumSumKernel<float>);
  table.Add("CumSum", Device::kCpu, {DataType::kF64}, &CumSumKernel<double>);
  table.Add("CumSum", Device::kCpu, {DataType::kI32}, &CumSumKernel<int32_t>);
  table.Add("CumSum", Device::kCpu, {DataType::kI64}, &CumSumKernel<int64_t>);
  table.Add("Range", Device::kCpu, {DataType::kF32}, &RangeKernel<float>);
  table.Add("Range", Device::kCpu, {DataType::kF64}, &RangeKernel<double>);
  table.Add("Range", Device::kCpu, {DataType::kI32}, &RangeKernel<int32_t>);
  table.Add("Range", Device::kCpu, {DataType::kI64}, &RangeKernel<int64_t>);
  table.AddAnyType("Constant", Device::kCpu, &ConstantKernel, -1);
  table.AddAnyType("ConstantOfShape", Device::kCpu, &ConstantOfShapeKernel, -1);
  table.AddAnyType("NonZero", Device::kCpu, &NonZeroKernel, 0);
  table.AddAnyType("Trilu", Device::kCpu, &TriluKernel, 0);
  table.AddAnyType("EyeLike", Device::kCpu, &EyeLikeKernel, 0);
}

}  // namespace fleet::cpu
