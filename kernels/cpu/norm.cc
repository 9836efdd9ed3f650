// Normalisation kernels: BatchNormalization (opset 15, inference and training_mode),
// LayerNormalization (opset 17), InstanceNormalization and MeanVarianceNormalization. Softmax-like
// ops live in softmax.cc, Dropout and LRN in dropout_lrn.cc; RegisterNormKernels registers all of
// them.
//
// BatchNormalization and InstanceNormalization view X as [N, C, S] (S = product of the spatial
// dims) and fold each channel's statistics and affine parameters into one y = x * a + b per
// plane. LayerNormalization views X as [rows, D] around `axis`.
#include <cmath>
#include <vector>

#include "absl/strings/str_cat.h"
#include "ir/status_macros.h"
#include "kernels/cpu/float_dispatch.h"
#include "kernels/cpu/groups.h"
#include "kernels/cpu/norm_internal.h"
#include "kernels/cpu/reduce_axes.h"
#include "kernels/cpu/vec_loops.h"

namespace fleet::cpu {
namespace {

const char* const kBatchNormInputs[] = {"X", "scale", "B", "input_mean", "input_var"};

// Checks that input `i` (named `name`) is a 1-D tensor of `c` elements of X's dtype.
absl::Status CheckPerChannel(const KernelContext& ctx, int i, const char* name, int64_t c) {
  if (!ctx.has_input(i)) {
    return ctx.InvalidArgument(absl::StrCat("input '", name, "' is missing"));
  }
  const Tensor& t = ctx.input(i);
  if (t.dtype() != ctx.input(0).dtype() || t.rank() != 1 || t.dim(0) != c) {
    return ctx.InvalidArgument(absl::StrCat("input '", name, "' is ", t.TypeString(), "; expected ",
                                            std::string(DataTypeName(ctx.input(0).dtype())), "[", c,
                                            "] (one value per channel of X)"));
  }
  return absl::OkStatus();
}

// X as [N, C, S]; rank >= 2 is required.
absl::StatusOr<AxisSplit> ChannelSplit(const KernelContext& ctx, const char* op) {
  const Tensor& x = ctx.input(0);
  if (x.rank() < 2) {
    return ctx.InvalidArgument(
        absl::StrCat("input 'X' is ", x.TypeString(), "; expected rank >= 2 (N, C, ...) for ", op));
  }
  return SplitAt(x.shape(), 1);
}

// y[n, c, :] = x[n, c, :] * a[c] + b[c].
template <typename T>
void ApplyPerChannel(const KernelContext& ctx, const T* x, const std::vector<T>& a,
                     const std::vector<T>& b, const AxisSplit& s, T* y) {
  const int64_t c_count = s.axis, plane = s.inner;
  ctx.ParallelFor(s.outer * c_count, GrainFor(plane), [&](int64_t begin, int64_t end) {
    for (int64_t k = begin; k < end; ++k) {
      const int64_t c = k % c_count;
      AffineScalar(x + k * plane, a[c], b[c], y + k * plane, plane);
    }
  });
}

template <typename T>
absl::Status RunBatchNorm(KernelContext& ctx) {
  FLEET_ASSIGN_OR_RETURN(AxisSplit s, ChannelSplit(ctx, "BatchNormalization"));
  const int64_t channels = s.axis;
  for (int i = 1; i < 5; ++i) {
    FLEET_RETURN_IF_ERROR(CheckPerChannel(ctx, i, kBatchNormInputs[i], channels));
  }
  const Tensor& x = ctx.input(0);
  const T* scale = ctx.input(1).data<T>();
  const T* bias = ctx.input(2).data<T>();
  const T* in_mean = ctx.input(3).data<T>();
  const T* in_var = ctx.input(4).data<T>();
  const double eps = ctx.GetFloat("epsilon", 1e-5f);
  const bool training = ctx.GetInt("training_mode", 0) != 0;
  const double momentum = ctx.GetFloat("momentum", 0.9f);

  std::vector<T> mean(in_mean, in_mean + channels), var(in_var, in_var + channels);
  if (training) {
    // Batch statistics per channel over N and the spatial dims (population variance).
    const int64_t count = s.outer * s.inner;
    const T* px = x.data<T>();
    ctx.ParallelFor(channels, GrainFor(count), [&](int64_t begin, int64_t end) {
      for (int64_t c = begin; c < end; ++c) {
        double sum = 0;
        for (int64_t n = 0; n < s.outer; ++n)
          sum += RowSum(px + (n * channels + c) * s.inner, s.inner);
        const double m = count > 0 ? sum / count : 0.0;
        double sq = 0;
        for (int64_t n = 0; n < s.outer; ++n) {
          sq +=
              RowSumSquaredDeviation(px + (n * channels + c) * s.inner, static_cast<T>(m), s.inner);
        }
        mean[c] = static_cast<T>(m);
        var[c] = static_cast<T>(count > 0 ? sq / count : 0.0);
      }
    });
  }
  std::vector<T> a(channels), b(channels);
  for (int64_t c = 0; c < channels; ++c) {
    const double ac = scale[c] / std::sqrt(static_cast<double>(var[c]) + eps);
    a[c] = static_cast<T>(ac);
    b[c] = static_cast<T>(bias[c] - mean[c] * ac);
  }
  Tensor* y = ctx.Output(0, x.dtype(), x.shape());
  ApplyPerChannel(ctx, x.data<T>(), a, b, s, y->data<T>());

  // Outputs 1 and 2: running mean / variance (the inputs themselves outside training).
  for (int out = 1; out <= 2 && out < ctx.num_outputs(); ++out) {
    const T* in = out == 1 ? in_mean : in_var;
    const std::vector<T>& batch = out == 1 ? mean : var;
    T* r = ctx.Output(out, x.dtype(), {channels})->template data<T>();
    for (int64_t c = 0; c < channels; ++c) {
      r[c] = training ? static_cast<T>(in[c] * momentum + batch[c] * (1.0 - momentum)) : in[c];
    }
  }
  return absl::OkStatus();
}

template <typename T>
absl::Status RunInstanceNorm(KernelContext& ctx) {
  FLEET_ASSIGN_OR_RETURN(AxisSplit s, ChannelSplit(ctx, "InstanceNormalization"));
  const int64_t channels = s.axis, plane = s.inner;
  FLEET_RETURN_IF_ERROR(CheckPerChannel(ctx, 1, "scale", channels));
  FLEET_RETURN_IF_ERROR(CheckPerChannel(ctx, 2, "B", channels));
  const Tensor& x = ctx.input(0);
  const T* scale = ctx.input(1).data<T>();
  const T* bias = ctx.input(2).data<T>();
  const double eps = ctx.GetFloat("epsilon", 1e-5f);
  Tensor* y = ctx.Output(0, x.dtype(), x.shape());
  const T* px = x.data<T>();
  T* py = y->data<T>();
  ctx.ParallelFor(s.outer * channels, GrainFor(plane), [&](int64_t begin, int64_t end) {
    for (int64_t k = begin; k < end; ++k) {
      const int64_t c = k % channels;
      const T* row = px + k * plane;
      const T m = plane > 0 ? RowSum(row, plane) / static_cast<T>(plane) : T(0);
      const double var = plane > 0 ? RowSumSquaredDeviation(row, m, plane) / plane : 0.0;
      const double a = scale[c] / std::sqrt(var + eps);
      AffineScalar(row, static_cast<T>(a), static_cast<T>(bias[c] - m * a), py + k * plane, plane);
    }
  });
  return absl::OkStatus();
}

// Expands `t` (broadcastable to `dims`, numpy rules) to a dense vector of prod(dims) elements.
template <typename T>
absl::StatusOr<std::vector<T>> BroadcastTo(const KernelContext& ctx, const Tensor& t,
                                           const char* name, const std::vector<int64_t>& dims) {
  const int64_t total = NumElements(dims);
  const T* p = t.data<T>();
  if (t.numel() == total && t.rank() <= static_cast<int>(dims.size())) {
    bool same = true;  // same dims after dropping leading 1s
    const int off = static_cast<int>(dims.size()) - t.rank();
    for (int i = 0; i < t.rank(); ++i) same = same && t.dim(i) == dims[off + i];
    if (same) return std::vector<T>(p, p + total);
  }
  const int rank = static_cast<int>(dims.size());
  const int off = rank - t.rank();
  bool ok = off >= 0;
  for (int i = 0; ok && i < t.rank(); ++i) ok = t.dim(i) == 1 || t.dim(i) == dims[off + i];
  if (!ok) {
    return ctx.InvalidArgument(absl::StrCat("input '", name, "' has shape ", ShapeString(t.shape()),
                                            "; expected a shape that broadcasts to ",
                                            ShapeString(dims), " (X's normalised dims)"));
  }
  std::vector<int64_t> stride(rank, 0);
  int64_t st = 1;
  for (int i = t.rank() - 1; i >= 0; --i) {
    stride[off + i] = t.dim(i) == 1 ? 0 : st;
    st *= t.dim(i);
  }
  std::vector<T> out(total);
  for (int64_t k = 0; k < total; ++k) {
    int64_t rem = k, src = 0;
    for (int i = rank - 1; i >= 0; --i) {
      src += (rem % dims[i]) * stride[i];
      rem /= dims[i];
    }
    out[k] = p[src];
  }
  return out;
}

// y = (x - m) * inv * scale + bias. A function of its own so that the __restrict parameters
// let GCC vectorise it (inside the ParallelFor lambda the captured scale and bias pointers
// might alias the output, and the loop stayed scalar).
template <typename T>
FLEET_LOOP_INLINE void NormalizeRow(const T* __restrict x, T m, T inv, const T* __restrict scale,
                                    const T* __restrict bias, T* __restrict y, int64_t n) {
  int64_t i = 0;
  for (; i + kVec <= n; i += kVec) {
    for (int j = 0; j < kVec; ++j) y[i + j] = (x[i + j] - m) * inv * scale[i + j] + bias[i + j];
  }
  for (; i < n; ++i) y[i] = (x[i] - m) * inv * scale[i] + bias[i];
}

// Rows [begin, end) of LayerNormalization, each d wide; each row's mean and inverse standard
// deviation go to mean[r] and inv[r] where those are not null. Runs at the active
// instruction-set level (level_loops.h), one call per chunk of rows.
template <typename T, typename U>
FLEET_LOOP_INLINE void LayerNormRows(const T* x, const T* scale, const T* bias, T* y, int64_t d,
                                     double eps, int64_t begin, int64_t end, U* mean, U* inv) {
  for (int64_t r = begin; r < end; ++r) {
    const T* row = x + r * d;
    const T m = d > 0 ? vec::RowSum(row, d) / static_cast<T>(d) : T(0);
    const double var = d > 0 ? vec::RowSumSquaredDeviation(row, m, d) / d : 0.0;
    const double inv_r = 1.0 / std::sqrt(var + eps);
    NormalizeRow(row, m, static_cast<T>(inv_r), scale, bias, y + r * d, d);
    if (mean != nullptr) mean[r] = static_cast<U>(m);
    if (inv != nullptr) inv[r] = static_cast<U>(inv_r);
  }
}

template <typename U>
U* StatsData(Tensor* t) {
  return t != nullptr ? t->data<U>() : nullptr;
}

template <typename T>
absl::Status RunLayerNorm(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  FLEET_ASSIGN_OR_RETURN(int axis, ResolveAxis(ctx, ctx.GetInt("axis", -1), x.rank()));
  const double eps = ctx.GetFloat("epsilon", 1e-5f);
  const int64_t stash = ctx.GetInt("stash_type", 1);
  DataType stat_type;
  if (stash == 1)
    stat_type = DataType::kF32;
  else if (stash == 11)
    stat_type = DataType::kF64;
  else {
    return ctx.Unimplemented(
        absl::StrCat("stash_type ", stash, " is not supported; expected 1 (float) or 11 (double)"));
  }
  const std::vector<int64_t> norm_dims(x.shape().begin() + axis, x.shape().end());
  const int64_t d = NumElements(norm_dims);
  const int64_t rows =
      NumElements(std::vector<int64_t>(x.shape().begin(), x.shape().begin() + axis));
  if (!ctx.has_input(1)) return ctx.InvalidArgument("input 'Scale' is missing");
  for (int i = 1; i <= 2; ++i) {
    if (ctx.has_input(i) && ctx.input(i).dtype() != x.dtype()) {
      return ctx.InvalidArgument(absl::StrCat("input '", i == 1 ? "Scale" : "B", "' is ",
                                              ctx.input(i).TypeString(), "; expected element type ",
                                              std::string(DataTypeName(x.dtype())), " like X"));
    }
  }
  FLEET_ASSIGN_OR_RETURN(std::vector<T> scale,
                         BroadcastTo<T>(ctx, ctx.input(1), "Scale", norm_dims));
  std::vector<T> bias;
  if (ctx.has_input(2)) {
    FLEET_ASSIGN_OR_RETURN(bias, BroadcastTo<T>(ctx, ctx.input(2), "B", norm_dims));
  } else {
    bias.assign(d, T(0));
  }
  std::vector<int64_t> stat_shape(x.shape().begin(), x.shape().begin() + axis);
  stat_shape.resize(x.rank(), 1);
  Tensor* y = ctx.Output(0, x.dtype(), x.shape());
  Tensor* mean_out = ctx.num_outputs() > 1 ? ctx.Output(1, stat_type, stat_shape) : nullptr;
  Tensor* inv_out = ctx.num_outputs() > 2 ? ctx.Output(2, stat_type, stat_shape) : nullptr;
  const T* px = x.data<T>();
  T* py = y->data<T>();
  const T* pscale = scale.data();
  const T* pbias = bias.data();
  ctx.ParallelFor(rows, GrainFor(d), [&](int64_t begin, int64_t end) {
    if (stat_type == DataType::kF32) {
      RunLoopAtLevel<LoopOf<&LayerNormRows<T, float>>>(px, pscale, pbias, py, d, eps, begin, end,
                                                       StatsData<float>(mean_out),
                                                       StatsData<float>(inv_out));
    } else {
      RunLoopAtLevel<LoopOf<&LayerNormRows<T, double>>>(px, pscale, pbias, py, d, eps, begin, end,
                                                        StatsData<double>(mean_out),
                                                        StatsData<double>(inv_out));
    }
  });
  return absl::OkStatus();
}

// MeanVarianceNormalization: y = (x - mean) / (sqrt(var) + 1e-9) with mean and variance over
// `axes` (default [0, 2, 3]), as in ONNX's function body. Statistics accumulate in double.
template <typename T>
absl::Status RunMvn(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  const int rank = x.rank();
  FLEET_ASSIGN_OR_RETURN(std::vector<bool> reduce,
                         ResolveAxes(ctx, ctx.GetInts("axes", {0, 2, 3}), rank));
  // Offset of each element's statistics slot: strides of the kept dims, 0 for reduced ones.
  std::vector<int64_t> stat_stride(rank, 0);
  int64_t slots = 1;
  for (int i = rank - 1; i >= 0; --i) {
    if (!reduce[i]) {
      stat_stride[i] = slots;
      slots *= x.dim(i);
    }
  }
  const int64_t total = x.numel();
  Tensor* y = ctx.Output(0, x.dtype(), x.shape());
  if (total == 0) return absl::OkStatus();
  const int64_t count = total / slots;
  std::vector<double> sum(slots, 0.0), sq(slots, 0.0);
  std::vector<int64_t> slot_of(total);
  {
    std::vector<int64_t> idx(rank, 0);
    int64_t slot = 0;
    for (int64_t k = 0; k < total; ++k) {
      slot_of[k] = slot;
      for (int i = rank - 1; i >= 0; --i) {  // odometer step
        slot += stat_stride[i];
        if (++idx[i] < x.dim(i)) break;
        slot -= stat_stride[i] * x.dim(i);
        idx[i] = 0;
      }
    }
  }
  const T* px = x.data<T>();
  for (int64_t k = 0; k < total; ++k) {
    const double v = px[k];
    sum[slot_of[k]] += v;
    sq[slot_of[k]] += v * v;
  }
  std::vector<double> mean(slots), denom(slots);
  for (int64_t s = 0; s < slots; ++s) {
    mean[s] = sum[s] / count;
    const double var = std::max(0.0, sq[s] / count - mean[s] * mean[s]);
    denom[s] = std::sqrt(var) + 1e-9;
  }
  T* py = y->data<T>();
  for (int64_t k = 0; k < total; ++k) {
    py[k] = static_cast<T>((px[k] - mean[slot_of[k]]) / denom[slot_of[k]]);
  }
  return absl::OkStatus();
}

template <typename T>
struct BatchNormRun {
  static absl::Status Run(KernelContext& ctx) { return RunBatchNorm<T>(ctx); }
};
template <typename T>
struct InstanceNormRun {
  static absl::Status Run(KernelContext& ctx) { return RunInstanceNorm<T>(ctx); }
};
template <typename T>
struct LayerNormRun {
  static absl::Status Run(KernelContext& ctx) { return RunLayerNorm<T>(ctx); }
};
template <typename T>
struct MvnRun {
  static absl::Status Run(KernelContext& ctx) { return RunMvn<T>(ctx); }
};

}  // namespace

void RegisterNormKernels(KernelTable& table) {
  const std::vector<DataType> types = {DataType::kF32, DataType::kF64};
  table.Add("BatchNormalization", Device::kCpu, types, &RunForFloatType<BatchNormRun>);
  table.Add("InstanceNormalization", Device::kCpu, types, &RunForFloatType<InstanceNormRun>);
  table.Add("LayerNormalization", Device::kCpu, types, &RunForFloatType<LayerNormRun>);
  table.Add("MeanVarianceNormalization", Device::kCpu, types, &RunForFloatType<MvnRun>);
  RegisterSoftmaxKernels(table);
  RegisterDropoutLrnKernels(table);
}

}  // namespace fleet::cpu
