// Resize (opset 13..17: inputs X, roi, scales, sizes) for f32 and f64, any rank.
//
// The output size is `sizes` when given, else floor(in * scale) per dim; exactly one of the two
// must be given. Each output index j of a dim maps back to an input coordinate x, as in ONNX's
// reference (with scale = out / in when sizes are given):
//   half_pixel          (j + 0.5) / scale - 0.5
//   pytorch_half_pixel  (j + 0.5) / scale - 0.5, or 0 when the output length is 1
//   align_corners       j * (in - 1) / (scale * in - 1), or 0 when the output length is 1
//   asymmetric          j / scale
//   tf_half_pixel_for_nn (j + 0.5) / scale  (opset 11)
//   tf_crop_and_resize  start * (in - 1) + j * (end - start) * (in - 1) / (scale * in - 1), with
//                       start, end from roi; x outside [0, in - 1] gives extrapolation_value
// The coordinate arithmetic is float when scales are given and double for sizes, like the
// reference, so that ties in nearest rounding come out the same.
//
// mode picks the taps around x: nearest one (rounded by nearest_mode), linear two (floor(x) and
// the next), cubic four (floor(x) - 1 .. floor(x) + 2, Keys' kernel with cubic_coeff_a). Taps
// outside [0, in) clamp to the edge, or with exclude_outside get weight 0 and the others are
// renormalised.
//
// nearest is one gather pass over the output. linear and cubic are separable, so the kernel
// resizes one dim at a time, innermost first, and skips dims whose mapping is the identity:
// [outer, in, inner] -> [outer, out, inner] with
//   out[o, j, i] = sum_k w[j][k] * in[o, idx[j][k], i]
// For inner > 1 the loop over i runs over contiguous rows; the innermost dim gathers per element.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "ir/status_macros.h"
#include "kernels/cpu/groups.h"
#include "kernels/cpu/level_loops.h"
#include "kernels/cpu/reduce_axes.h"

namespace fleet::cpu {
namespace {

enum class Mode { kNearest, kLinear, kCubic };
enum class Coordinates {
  kHalfPixel,
  kPytorchHalfPixel,
  kAlignCorners,
  kAsymmetric,
  kTfHalfPixelForNn,
  kTfCropAndResize,
};
enum class Nearest { kRoundPreferFloor, kRoundPreferCeil, kFloor, kCeil };

// No output larger than this many elements (64 GiB of f32): a bad scale fails cleanly.
constexpr double kMaxOutputElements = 17179869184.0;

struct ResizeAttrs {
  Mode mode = Mode::kNearest;
  Coordinates coordinates = Coordinates::kHalfPixel;
  Nearest nearest = Nearest::kRoundPreferFloor;
  double cubic_a = -0.75;
  bool exclude_outside = false;
  double extrapolation = 0;
};

absl::StatusOr<ResizeAttrs> GetAttrs(const KernelContext& ctx) {
  ResizeAttrs a;
  const std::string mode = ctx.GetString("mode", "nearest");
  if (mode == "nearest") {
    a.mode = Mode::kNearest;
  } else if (mode == "linear") {
    a.mode = Mode::kLinear;
  } else if (mode == "cubic") {
    a.mode = Mode::kCubic;
  } else {
    return ctx.InvalidArgument(
        absl::StrCat("mode is '", mode, "'; expected 'nearest', 'linear' or 'cubic'"));
  }
  const std::string ct = ctx.GetString("coordinate_transformation_mode", "half_pixel");
  if (ct == "half_pixel") {
    a.coordinates = Coordinates::kHalfPixel;
  } else if (ct == "pytorch_half_pixel") {
    a.coordinates = Coordinates::kPytorchHalfPixel;
  } else if (ct == "align_corners") {
    a.coordinates = Coordinates::kAlignCorners;
  } else if (ct == "asymmetric") {
    a.coordinates = Coordinates::kAsymmetric;
  } else if (ct == "tf_half_pixel_for_nn") {
    a.coordinates = Coordinates::kTfHalfPixelForNn;
  } else if (ct == "tf_crop_and_resize") {
    a.coordinates = Coordinates::kTfCropAndResize;
  } else {
    return ctx.InvalidArgument(absl::StrCat(
        "coordinate_transformation_mode is '", ct,
        "'; expected one of half_pixel, pytorch_half_pixel, align_corners, asymmetric, "
        "tf_half_pixel_for_nn, tf_crop_and_resize"));
  }
  const std::string nm = ctx.GetString("nearest_mode", "round_prefer_floor");
  if (nm == "round_prefer_floor") {
    a.nearest = Nearest::kRoundPreferFloor;
  } else if (nm == "round_prefer_ceil") {
    a.nearest = Nearest::kRoundPreferCeil;
  } else if (nm == "floor") {
    a.nearest = Nearest::kFloor;
  } else if (nm == "ceil") {
    a.nearest = Nearest::kCeil;
  } else {
    return ctx.InvalidArgument(
        absl::StrCat("nearest_mode is '", nm,
                     "'; expected round_prefer_floor, round_prefer_ceil, floor or ceil"));
  }
  a.cubic_a = ctx.GetFloat("cubic_coeff_a", -0.75f);
  a.exclude_outside = ctx.GetInt("exclude_outside", 0) != 0;
  a.extrapolation = ctx.GetFloat("extrapolation_value", 0.0f);
  return a;
}

// Output shape, per-dim scales and roi, from the scales / sizes / roi inputs.
struct ResizeShape {
  std::vector<int64_t> out;
  std::vector<double> scales;
  std::vector<double> roi;  // [starts..., ends...]; empty unless tf_crop_and_resize
  bool from_scales = true;
};

bool Given(const KernelContext& ctx, int i) { return ctx.has_input(i) && ctx.input(i).numel() > 0; }

absl::StatusOr<ResizeShape> GetShape(const KernelContext& ctx, const ResizeAttrs& attrs) {
  const Tensor& x = ctx.input(0);
  const int rank = x.rank();
  if (rank < 1) return ctx.InvalidArgument("input 'X' is a scalar; expected rank >= 1");
  const bool has_scales = Given(ctx, 2), has_sizes = Given(ctx, 3);
  if (has_scales == has_sizes) {
    return ctx.InvalidArgument(
        absl::StrCat("inputs 'scales' and 'sizes' are ", has_scales ? "both" : "neither",
                     " given; expected exactly one of them (the other absent or empty)"));
  }
  ResizeShape s;
  s.out.resize(rank);
  s.scales.resize(rank);
  s.from_scales = has_scales;
  double total = 1;
  if (has_scales) {
    const Tensor& t = ctx.input(2);
    if (t.dtype() != DataType::kF32 || t.rank() != 1 || t.numel() != rank) {
      return ctx.InvalidArgument(absl::StrCat("input 'scales' is ", t.TypeString(),
                                              "; expected f32[", rank, "] (one per dim of X)"));
    }
    const float* p = t.data<float>();
    for (int i = 0; i < rank; ++i) {
      const double out = std::floor(static_cast<double>(p[i]) * static_cast<double>(x.dim(i)));
      if (!(p[i] > 0) || !std::isfinite(p[i]) || out > kMaxOutputElements) {
        return ctx.InvalidArgument(absl::StrCat(
            "scales[", i, "] is ", p[i], " for dim of size ", x.dim(i),
            "; expected a finite scale > 0 (scales = [", absl::StrJoin(p, p + rank, ","), "])"));
      }
      s.scales[i] = p[i];
      s.out[i] = static_cast<int64_t>(out);
      total *= out;
    }
  } else {
    const Tensor& t = ctx.input(3);
    if (t.dtype() != DataType::kI64 || t.rank() != 1 || t.numel() != rank) {
      return ctx.InvalidArgument(absl::StrCat("input 'sizes' is ", t.TypeString(),
                                              "; expected i64[", rank, "] (one per dim of X)"));
    }
    const int64_t* p = t.data<int64_t>();
    for (int i = 0; i < rank; ++i) {
      if (p[i] < 0 || (p[i] > 0 && x.dim(i) == 0) ||
          static_cast<double>(p[i]) > kMaxOutputElements) {
        return ctx.InvalidArgument(
            absl::StrCat("sizes[", i, "] is ", p[i], " for dim of size ", x.dim(i),
                         "; expected a size >= 0 (0 if the dim is empty) (sizes = [",
                         absl::StrJoin(p, p + rank, ","), "])"));
      }
      s.out[i] = p[i];
      s.scales[i] = x.dim(i) > 0 ? static_cast<double>(p[i]) / static_cast<double>(x.dim(i)) : 1;
      total *= static_cast<double>(p[i]);
    }
  }
  if (total > kMaxOutputElements) {
    return ctx.InvalidArgument(absl::StrCat("output shape ", ShapeString(s.out), " has ", total,
                                            " elements; expected at most ", kMaxOutputElements));
  }
  if (attrs.coordinates == Coordinates::kTfCropAndResize) {
    if (!ctx.has_input(1) || ctx.input(1).rank() != 1 || ctx.input(1).numel() != 2 * rank ||
        (ctx.input(1).dtype() != DataType::kF32 && ctx.input(1).dtype() != DataType::kF64)) {
      return ctx.InvalidArgument(absl::StrCat(
          "input 'roi' is ", ctx.has_input(1) ? ctx.input(1).TypeString() : "missing",
          "; expected f32[", 2 * rank,
          "] (starts then ends per dim) for coordinate_transformation_mode tf_crop_and_resize"));
    }
    const Tensor& roi = ctx.input(1);
    for (int i = 0; i < 2 * rank; ++i) {
      s.roi.push_back(roi.dtype() == DataType::kF32 ? roi.data<float>()[i] : roi.data<double>()[i]);
    }
  }
  return s;
}

// The taps of one dim: for output index j, taps[j * n + k] reads input index idx with weight w.
template <typename T>
struct DimPlan {
  int64_t in = 0;
  int64_t out = 0;
  int taps = 1;
  std::vector<int64_t> idx;
  std::vector<T> w;
  std::vector<uint8_t> outside;  // 1: extrapolation_value (tf_crop_and_resize)
  bool identity = true;
};

// Input coordinate of output index j, in R (float for scales, double for sizes; see above).
template <typename R>
R SourceCoordinate(Coordinates mode, int64_t j, R scale, int64_t in, int64_t out, R roi_start,
                   R roi_end) {
  const R xr = static_cast<R>(j);
  const R out_width = scale * static_cast<R>(in);
  const R in_last = static_cast<R>(in - 1);
  switch (mode) {
    case Coordinates::kHalfPixel:
      return (xr + R(0.5)) / scale - R(0.5);
    case Coordinates::kPytorchHalfPixel:
      return out > 1 ? (xr + R(0.5)) / scale - R(0.5) : R(0);
    case Coordinates::kAlignCorners:
      return out == 1 ? R(0) : xr * in_last / (out_width - R(1));
    case Coordinates::kAsymmetric:
      return xr / scale;
    case Coordinates::kTfHalfPixelForNn:
      return (xr + R(0.5)) / scale;
    case Coordinates::kTfCropAndResize:
      return (out == 1 ? (roi_end - roi_start) * in_last / R(2)
                       : xr * (roi_end - roi_start) * in_last / (out_width - R(1))) +
             roi_start * in_last;
  }
  return 0;
}

// Keys' cubic convolution weights for taps at distances 1 + r, r, 1 - r, 2 - r.
void CubicWeights(double r, double a, double* w) {
  const double s = r + 1, t = 1 - r, u = 2 - r;
  w[0] = ((a * s - 5 * a) * s + 8 * a) * s - 4 * a;
  w[1] = ((a + 2) * r - (a + 3)) * r * r + 1;
  w[2] = ((a + 2) * t - (a + 3)) * t * t + 1;
  w[3] = ((a * u - 5 * a) * u + 8 * a) * u - 4 * a;
}

template <typename T, typename R>
DimPlan<T> PlanDim(const ResizeAttrs& attrs, int64_t in, int64_t out, double scale,
                   double roi_start, double roi_end) {
  DimPlan<T> p;
  p.in = in;
  p.out = out;
  p.taps = attrs.mode == Mode::kNearest ? 1 : attrs.mode == Mode::kLinear ? 2 : 4;
  p.idx.resize(out * p.taps);
  p.w.resize(out * p.taps);
  p.outside.assign(out, 0);
  p.identity = in == out;
  for (int64_t j = 0; j < out; ++j) {
    const R x = SourceCoordinate<R>(attrs.coordinates, j, static_cast<R>(scale), in, out,
                                    static_cast<R>(roi_start), static_cast<R>(roi_end));
    int64_t* idx = &p.idx[j * p.taps];
    T* w = &p.w[j * p.taps];
    if (attrs.coordinates == Coordinates::kTfCropAndResize &&
        (x < 0 || x > static_cast<R>(in - 1))) {
      p.outside[j] = 1;
      p.identity = false;
      for (int k = 0; k < p.taps; ++k) {
        idx[k] = 0;
        w[k] = 0;
      }
      continue;
    }
    const R fl = std::floor(x);
    const double r = static_cast<double>(x - fl);
    const int64_t base = static_cast<int64_t>(fl);
    double weights[4];
    int64_t first = base;
    if (attrs.mode == Mode::kNearest) {
      bool up = false;
      switch (attrs.nearest) {
        case Nearest::kRoundPreferFloor:
          up = r > 0.5;
          break;
        case Nearest::kRoundPreferCeil:
          up = r >= 0.5;
          break;
        case Nearest::kFloor:
          up = false;
          break;
        case Nearest::kCeil:
          up = r > 0;
          break;
      }
      first = base + (up ? 1 : 0);
      weights[0] = 1;
    } else if (attrs.mode == Mode::kLinear) {
      weights[0] = 1 - r;
      weights[1] = r;
    } else {
      first = base - 1;
      CubicWeights(r, attrs.cubic_a, weights);
    }
    if (attrs.exclude_outside && p.taps > 1) {
      double sum = 0;
      for (int k = 0; k < p.taps; ++k) {
        const int64_t i = first + k;
        if (i < 0 || i >= in) weights[k] = 0;
        sum += weights[k];
      }
      for (int k = 0; k < p.taps; ++k) weights[k] /= sum;
    }
    double self = 0;  // weight that lands on input index j
    for (int k = 0; k < p.taps; ++k) {
      const int64_t i = std::min(std::max<int64_t>(first + k, 0), in - 1);
      idx[k] = i;
      w[k] = static_cast<T>(weights[k]);
      if (i == j) {
        self += weights[k];
      } else if (weights[k] != 0) {
        p.identity = false;
      }
    }
    if (self != 1) p.identity = false;
  }
  return p;
}

// out[o, j] = sum_k w[j][k] * in[o, idx[j][k]] for rows [b, e) (the innermost dim).
template <typename T, int kTaps>
void ResizeRows(const T* src, T* dst, const DimPlan<T>& p, T extrapolation, int64_t b, int64_t e) {
  const int64_t* idx = p.idx.data();
  const T* w = p.w.data();
  const uint8_t* outside = p.outside.data();
  for (int64_t o = b; o < e; ++o) {
    const T* s = src + o * p.in;
    T* d = dst + o * p.out;
    for (int64_t j = 0; j < p.out; ++j) {
      T acc = 0;
      for (int k = 0; k < kTaps; ++k) acc += w[j * kTaps + k] * s[idx[j * kTaps + k]];
      d[j] = outside[j] ? extrapolation : acc;
    }
  }
}

// dst = wk * src (k == 0) or dst += wk * src, over n contiguous elements.
namespace at_level {
template <typename T>
FLEET_LOOP_INLINE void AxpyRow(const T* __restrict src, T wk, bool first, T* __restrict dst,
                               int64_t n) {
  if (first) {
    for (int64_t i = 0; i < n; ++i) dst[i] = wk * src[i];
  } else {
    for (int64_t i = 0; i < n; ++i) dst[i] += wk * src[i];
  }
}
}  // namespace at_level

template <typename T>
void AxpyRow(const T* src, T wk, bool first, T* dst, int64_t n) {
  RunLoopAtLevel<LoopOf<&at_level::AxpyRow<T>>>(src, wk, first, dst, n);
}

// Resizes the middle dim of [outer, p.in, inner] into dst [outer, p.out, inner] (2 or 4 taps).
template <typename T>
void ResizeDim(const KernelContext& ctx, const T* src, T* dst, int64_t outer, int64_t inner,
               const DimPlan<T>& p, T extrapolation) {
  if (inner == 1) {
    ctx.ParallelFor(outer, GrainFor(p.out * p.taps), [&](int64_t b, int64_t e) {
      if (p.taps == 2) {
        ResizeRows<T, 2>(src, dst, p, extrapolation, b, e);
      } else {
        ResizeRows<T, 4>(src, dst, p, extrapolation, b, e);
      }
    });
    return;
  }
  ctx.ParallelFor(outer * p.out, GrainFor(inner * p.taps), [&](int64_t b, int64_t e) {
    for (int64_t item = b; item < e; ++item) {
      const int64_t o = item / p.out, j = item % p.out;
      T* d = dst + item * inner;
      if (p.outside[j]) {
        std::fill(d, d + inner, extrapolation);
        continue;
      }
      const T* plane = src + o * p.in * inner;
      for (int k = 0; k < p.taps; ++k) {
        AxpyRow(plane + p.idx[j * p.taps + k] * inner, p.w[j * p.taps + k], k == 0, d, inner);
      }
    }
  });
}

// mode nearest in one pass: every output row (all dims but the last) reads one input row, and
// out[..., j] = row[idx[j]] (a copy when the last dim is the identity). Rows or elements whose
// coordinate falls outside the crop (tf_crop_and_resize) get the extrapolation value.
template <typename T>
void ResizeNearest(const KernelContext& ctx, const T* src, const std::vector<int64_t>& in_shape,
                   const std::vector<DimPlan<T>>& plans, T extrapolation, T* dst) {
  const int rank = static_cast<int>(plans.size());
  const DimPlan<T>& last = plans[rank - 1];
  std::vector<int64_t> in_stride(rank, 1);
  for (int i = rank - 2; i >= 0; --i) in_stride[i] = in_stride[i + 1] * in_shape[i + 1];
  int64_t rows = 1;
  for (int i = 0; i < rank - 1; ++i) rows *= plans[i].out;
  bool any_outside = false;
  for (const DimPlan<T>& p : plans) {
    for (uint8_t o : p.outside) any_outside |= o != 0;
  }
  const int64_t width = last.out;
  ctx.ParallelFor(rows, GrainFor(width), [&](int64_t b, int64_t e) {
    for (int64_t row = b; row < e; ++row) {
      int64_t rem = row, offset = 0;
      bool outside = false;
      for (int i = rank - 2; i >= 0; --i) {
        const int64_t j = rem % plans[i].out;
        rem /= plans[i].out;
        offset += plans[i].idx[j] * in_stride[i];
        outside |= plans[i].outside[j] != 0;
      }
      T* d = dst + row * width;
      if (outside) {
        std::fill(d, d + width, extrapolation);
        continue;
      }
      const T* s = src + offset;
      if (last.identity) {
        std::memcpy(d, s, width * sizeof(T));
        continue;
      }
      const int64_t* idx = last.idx.data();
      for (int64_t j = 0; j < width; ++j) d[j] = s[idx[j]];
      if (any_outside) {
        for (int64_t j = 0; j < width; ++j) {
          if (last.outside[j]) d[j] = extrapolation;
        }
      }
    }
  });
}

template <typename T>
absl::Status RunResize(KernelContext& ctx) {
  FLEET_ASSIGN_OR_RETURN(const ResizeAttrs attrs, GetAttrs(ctx));
  FLEET_ASSIGN_OR_RETURN(const ResizeShape shape, GetShape(ctx, attrs));
  const Tensor& x = ctx.input(0);
  const int rank = x.rank();
  std::vector<DimPlan<T>> plans(rank);
  for (int i = 0; i < rank; ++i) {
    const double start = shape.roi.empty() ? 0 : shape.roi[i];
    const double end = shape.roi.empty() ? 1 : shape.roi[rank + i];
    plans[i] = shape.from_scales
                   ? PlanDim<T, float>(attrs, x.dim(i), shape.out[i], shape.scales[i], start, end)
                   : PlanDim<T, double>(attrs, x.dim(i), shape.out[i], shape.scales[i], start, end);
  }
  std::vector<int> dims;  // the dims to resize, innermost first
  for (int i = rank - 1; i >= 0; --i) {
    if (!plans[i].identity) dims.push_back(i);
  }
  if (dims.empty()) {
    ctx.SetOutput(0, x);
    return absl::OkStatus();
  }
  T* out = ctx.Output(0, x.dtype(), shape.out)->data<T>();
  if (NumElements(shape.out) == 0) return absl::OkStatus();
  const T extrapolation = static_cast<T>(attrs.extrapolation);
  if (attrs.mode == Mode::kNearest) {
    ResizeNearest(ctx, x.data<T>(), x.shape(), plans, extrapolation, out);
    return absl::OkStatus();
  }
  std::vector<int64_t> cur = x.shape();
  const T* src = x.data<T>();
  Tensor buffers[2];  // intermediate results (uninitialised, unlike a std::vector)
  for (size_t n = 0; n < dims.size(); ++n) {
    const int d = dims[n];
    cur[d] = shape.out[d];
    T* dst = out;
    if (n + 1 < dims.size()) {
      buffers[n % 2] = Tensor(x.dtype(), cur);
      dst = buffers[n % 2].data<T>();
    }
    const AxisSplit split = SplitAt(cur, d);
    ResizeDim(ctx, src, dst, split.outer, split.inner, plans[d], extrapolation);
    src = dst;
  }
  return absl::OkStatus();
}

absl::Status ResizeKernel(KernelContext& ctx) {
  switch (ctx.input(0).dtype()) {
    case DataType::kF32:
      return RunResize<float>(ctx);
    case DataType::kF64:
      return RunResize<double>(ctx);
    default:
      return ctx.Unimplemented(
          absl::StrCat("input 'X' is ", ctx.input(0).TypeString(), "; expected f32 or f64"));
  }
}

}  // namespace

void RegisterResizeKernels(KernelTable& table) {
  table.Add("Resize", Device::kCpu, {DataType::kF32, DataType::kF64}, &ResizeKernel);
  table.SetTraits("Resize", Device::kCpu, KernelTraits::Aliases({{0, 0}}));  // identity scales
}

}  // namespace fleet::cpu
