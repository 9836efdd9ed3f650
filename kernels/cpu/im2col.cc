// im2col for Conv, and col2im (its adjoint, for Conv's input gradient).
//
// 1-D and 2-D windows (the common case) take a plane-at-a-time path: when the window has pads,
// the channel plane is first copied into a zero-bordered buffer covering every tap, so each
// column row is then a plain (strided) copy per output row with no bounds logic; without pads
// the plane is read in place. Stride 1 copies contiguous runs, stride 2 picks every other
// element; for f32 these row copies are the active instruction-set level's (isa/im2col_rows.cc:
// whole AVX-512 vectors plus one masked tail per row where the CPU has it). 3-D windows take a row
// at a time with per-row valid ranges. col2im mirrors the plane path: every tap's rows are added
// into a zero-bordered buffer (or the plane itself without pads), contiguous adds for stride 1, and
// the interior copied out.
#include "kernels/cpu/im2col.h"

#include <algorithm>
#include <cstring>
#include <type_traits>
#include <vector>

#include "kernels/cpu/level_kernels.h"
#include "kernels/cpu/level_loops.h"
#include "kernels/cpu/vec_loops.h"

namespace fleet::cpu {
namespace {

constexpr int64_t kGrain = 32 * 1024;

// dst[i] = src[i * stride] for i in [0, n). Reads no element past src[(n - 1) * stride].
// f32 goes to the active instruction-set level's copy (level_kernels.h).
template <typename T>
inline void CopyStrided(const T* __restrict src, int64_t stride, T* __restrict dst, int64_t n) {
  if constexpr (std::is_same_v<T, float>) {
    ActiveLevelKernels().copy_rows_f32(src, 0, stride, dst, n, 1);
  } else if (stride == 1) {
    int64_t i = 0;
    for (; i + kVec <= n; i += kVec) {
      for (int j = 0; j < kVec; ++j) dst[i + j] = src[i + j];
    }
    for (; i < n; ++i) dst[i] = src[i];
  } else {
    for (int64_t i = 0; i < n; ++i) dst[i] = src[i * stride];
  }
}

// `rows` rows of CopyStrided: row r reads from src + r * src_step and writes n elements at
// dst + r * n. The stride is dispatched once per call.
template <typename T>
void CopyRows(const T* src, int64_t src_step, int64_t stride, T* dst, int64_t n, int64_t rows) {
  if constexpr (std::is_same_v<T, float>) {
    ActiveLevelKernels().copy_rows_f32(src, src_step, stride, dst, n, rows);
  } else {
    for (int64_t r = 0; r < rows; ++r) CopyStrided(src + r * src_step, stride, dst + r * n, n);
  }
}

// Geometry of the 1-D / 2-D path, computed once per Im2Col call.
struct PlanePlan {
  bool padded = false;  // the window has pads: taps read a zero-bordered copy
  // Extent of the padded plane that the taps read, and the row stride of what they read (src_w
  // for the copy, in[2] for the plane itself).
  int64_t src_h = 0, src_w = 0, ls = 0;
};

PlanePlan MakePlanePlan(const WindowGeometry& g) {
  PlanePlan p;
  p.padded = g.pad_begin[1] != 0 || g.pad_begin[2] != 0 || g.pad_end[1] != 0 || g.pad_end[2] != 0;
  p.src_h = (g.out[1] - 1) * g.stride[1] + (g.kernel[1] - 1) * g.dilation[1] + 1;
  p.src_w = (g.out[2] - 1) * g.stride[2] + (g.kernel[2] - 1) * g.dilation[2] + 1;
  p.ls = p.padded ? p.src_w : g.in[2];
  return p;
}

// One channel plane of a 1-D or 2-D window (canonical dims 1 and 2). `col` is the plane's first
// column row (tap 0), `ld` the column matrix's row stride. With pads, `buf` holds the
// zero-bordered copy (src_h x src_w, the corner of the padded plane that the taps read) whose
// border the caller has zeroed; only the input part is written here. Without pads it is null.
template <typename T>
void Im2ColPlane2d(const T* x, const WindowGeometry& g, const PlanePlan& plan, T* buf, T* col,
                   int64_t ld) {
  const T* src = x;
  if (buf != nullptr) {
    const int64_t in_w = g.in[2], pt = g.pad_begin[1];
    const int64_t left = std::min(g.pad_begin[2], plan.src_w);
    const int64_t copy = std::max<int64_t>(0, std::min(in_w, plan.src_w - left));
    const int64_t row_end = std::min(g.in[1], plan.src_h - pt);
    for (int64_t xi = 0; xi < row_end; ++xi) {
      CopyStrided(x + xi * in_w, 1, buf + (xi + pt) * plan.src_w + left, copy);
    }
    src = buf;
  }
  const int64_t out_h = g.out[1], out_w = g.out[2], sh = g.stride[1], sw = g.stride[2];
  const int64_t ls = plan.ls;
  for (int64_t a = 0; a < g.kernel[1]; ++a) {
    for (int64_t b = 0; b < g.kernel[2]; ++b, col += ld) {
      CopyRows(src + a * g.dilation[1] * ls + b * g.dilation[2], sh * ls, sw, col, out_w, out_h);
    }
  }
}

// Writes one im2col row of a 3-D window: for kernel offset (kd, kh, kw), the input value under
// that tap for every output position (0 in the padding). `x` is one channel plane.
template <typename T>
void Im2ColRow(const T* x, const WindowGeometry& g, int64_t kd, int64_t kh, int64_t kw, T* row) {
  const int64_t ow_n = g.out[2];
  const int64_t off_w = kw * g.dilation[2] - g.pad_begin[2];
  int64_t lo, hi;
  ValidRange(off_w, g.stride[2], g.in[2], ow_n, &lo, &hi);
  const int64_t sw = g.stride[2];
  for (int64_t od = 0; od < g.out[0]; ++od) {
    const int64_t id = od * g.stride[0] + kd * g.dilation[0] - g.pad_begin[0];
    for (int64_t oh = 0; oh < g.out[1]; ++oh, row += ow_n) {
      const int64_t ih = oh * g.stride[1] + kh * g.dilation[1] - g.pad_begin[1];
      if (id < 0 || id >= g.in[0] || ih < 0 || ih >= g.in[1]) {
        std::fill(row, row + ow_n, T{0});
        continue;
      }
      const T* xr = x + (id * g.in[1] + ih) * g.in[2] + off_w;
      std::fill(row, row + lo, T{0});
      CopyStrided(xr + lo * sw, sw, row + lo, hi - lo);
      std::fill(row + hi, row + ow_n, T{0});
    }
  }
}

// dst[i * stride] += src[i] for i in [0, n).
namespace at_level {
template <typename T>
FLEET_LOOP_INLINE void AddStrided(const T* __restrict src, int64_t stride, T* __restrict dst,
                                  int64_t n) {
  if (stride == 1) {
    int64_t i = 0;
    for (; i + kVec <= n; i += kVec) {
      for (int j = 0; j < kVec; ++j) dst[i + j] += src[i + j];
    }
    for (; i < n; ++i) dst[i] += src[i];
    return;
  }
  for (int64_t i = 0; i < n; ++i) dst[i * stride] += src[i];
}
}  // namespace at_level

template <typename T>
void AddStrided(const T* src, int64_t stride, T* dst, int64_t n) {
  RunLoopAtLevel<LoopOf<&at_level::AddStrided<T>>>(src, stride, dst, n);
}

// The adjoint of Im2ColPlane2d: adds a plane's column rows into `x` (a zeroed plane). With
// pads `buf` (src_h x src_w) is zeroed here, receives the sums, and its input part is copied
// into x; without pads it is null and the sums go to x directly. Runs at the
// active instruction-set level (level_loops.h), one call per plane.
namespace at_level {
template <typename T>
FLEET_LOOP_INLINE void Col2ImPlane2d(const T* col, int64_t ld, const WindowGeometry* gp,
                                     const PlanePlan* planp, T* buf, T* x) {
  const WindowGeometry& g = *gp;
  const PlanePlan& plan = *planp;
  T* dst = buf != nullptr ? buf : x;
  if (buf != nullptr) std::fill(buf, buf + plan.src_h * plan.src_w, T{0});
  const int64_t out_h = g.out[1], out_w = g.out[2], sh = g.stride[1], sw = g.stride[2];
  const int64_t ls = plan.ls;
  for (int64_t a = 0; a < g.kernel[1]; ++a) {
    for (int64_t b = 0; b < g.kernel[2]; ++b, col += ld) {
      T* base = dst + a * g.dilation[1] * ls + b * g.dilation[2];
      for (int64_t oh = 0; oh < out_h; ++oh) {
        at_level::AddStrided(col + oh * out_w, sw, base + oh * sh * ls, out_w);
      }
    }
  }
  if (buf == nullptr) return;
  const int64_t in_w = g.in[2], pt = g.pad_begin[1];
  const int64_t left = std::min(g.pad_begin[2], plan.src_w);
  const int64_t copy = std::max<int64_t>(0, std::min(in_w, plan.src_w - left));
  const int64_t row_end = std::min(g.in[1], plan.src_h - pt);
  for (int64_t xi = 0; xi < row_end; ++xi) {
    std::copy(buf + (xi + pt) * plan.src_w + left, buf + (xi + pt) * plan.src_w + left + copy,
              x + xi * in_w);
  }
}
}  // namespace at_level

template <typename T>
void Col2ImPlane2d(const T* col, int64_t ld, const WindowGeometry& g, const PlanePlan& plan, T* buf,
                   T* x) {
  RunLoopAtLevel<LoopOf<&at_level::Col2ImPlane2d<T>>>(col, ld, &g, &plan, buf, x);
}

// The adjoint of Im2ColRow: adds one column row (tap kd, kh, kw) into the plane `x`.
template <typename T>
void Col2ImRow(const T* row, const WindowGeometry& g, int64_t kd, int64_t kh, int64_t kw, T* x) {
  const int64_t ow_n = g.out[2], sw = g.stride[2];
  const int64_t off_w = kw * g.dilation[2] - g.pad_begin[2];
  int64_t lo, hi;
  ValidRange(off_w, sw, g.in[2], ow_n, &lo, &hi);
  for (int64_t od = 0; od < g.out[0]; ++od) {
    const int64_t id = od * g.stride[0] + kd * g.dilation[0] - g.pad_begin[0];
    for (int64_t oh = 0; oh < g.out[1]; ++oh, row += ow_n) {
      const int64_t ih = oh * g.stride[1] + kh * g.dilation[1] - g.pad_begin[1];
      if (id < 0 || id >= g.in[0] || ih < 0 || ih >= g.in[1]) continue;
      T* xr = x + (id * g.in[1] + ih) * g.in[2] + off_w;
      AddStrided(row + lo, sw, xr + lo * sw, hi - lo);
    }
  }
}

}  // namespace

template <typename T>
void Col2Im(const KernelContext& ctx, const T* col, int64_t images, int64_t channels,
            const WindowGeometry& g, T* x, int64_t image_stride) {
  const int64_t isz = g.in_size(), osz = g.out_size(), ksz = g.kernel_size();
  const int64_t ld = images * osz;
  if (images == 0 || channels == 0) return;
  const bool planar = g.in[0] == 1 && g.out[0] == 1 && g.kernel[0] == 1;
  const PlanePlan plan = MakePlanePlan(g);
  ctx.ParallelFor(channels * images, std::max<int64_t>(1, kGrain / std::max<int64_t>(1, ksz * osz)),
                  [&](int64_t begin, int64_t end) {
                    std::vector<T> buf(
                        planar && plan.padded ? static_cast<size_t>(plan.src_h * plan.src_w) : 0);
                    for (int64_t u = begin; u < end; ++u) {
                      const int64_t ch = u / images, i = u % images;
                      T* plane = x + i * image_stride + ch * isz;
                      std::fill(plane, plane + isz, T{0});
                      const T* c = col + ch * ksz * ld + i * osz;
                      if (osz == 0) continue;
                      if (planar) {
                        Col2ImPlane2d(c, ld, g, plan, buf.empty() ? nullptr : buf.data(), plane);
                        continue;
                      }
                      for (int64_t k = 0; k < ksz; ++k) {
                        const int64_t kw = k % g.kernel[2];
                        const int64_t kh = (k / g.kernel[2]) % g.kernel[1];
                        const int64_t kd = k / (g.kernel[2] * g.kernel[1]);
                        Col2ImRow(c + k * ld, g, kd, kh, kw, plane);
                      }
                    }
                  });
}

template void Col2Im<float>(const KernelContext&, const float*, int64_t, int64_t,
                            const WindowGeometry&, float*, int64_t);
template void Col2Im<double>(const KernelContext&, const double*, int64_t, int64_t,
                             const WindowGeometry&, double*, int64_t);

template <typename T>
void Im2Col(const KernelContext& ctx, const T* x, int64_t image_stride, int64_t images,
            int64_t channels, const WindowGeometry& g, T* col) {
  const int64_t isz = g.in_size(), osz = g.out_size(), ksz = g.kernel_size();
  const int64_t ld = images * osz;
  if (osz == 0 || images == 0 || channels == 0) return;
  if (g.in[0] == 1 && g.out[0] == 1 && g.kernel[0] == 1) {
    const PlanePlan plan = MakePlanePlan(g);
    ctx.ParallelFor(
        channels * images, std::max<int64_t>(1, kGrain / (ksz * osz)),
        [&](int64_t begin, int64_t end) {
          // Zeroed once: the planes' copies only overwrite the input part.
          std::vector<T> buf(plan.padded ? static_cast<size_t>(plan.src_h * plan.src_w) : 0);
          for (int64_t u = begin; u < end; ++u) {
            const int64_t ch = u / images, i = u % images;
            Im2ColPlane2d(x + i * image_stride + ch * isz, g, plan,
                          plan.padded ? buf.data() : nullptr, col + ch * ksz * ld + i * osz, ld);
          }
        });
    return;
  }
  ctx.ParallelFor(
      channels * ksz * images, std::max<int64_t>(1, kGrain / osz), [&](int64_t begin, int64_t end) {
        for (int64_t u = begin; u < end; ++u) {
          const int64_t r = u / images, i = u % images;
          const int64_t ch = r / ksz, k = r % ksz;
          const int64_t kw = k % g.kernel[2];
          const int64_t kh = (k / g.kernel[2]) % g.kernel[1];
          const int64_t kd = k / (g.kernel[2] * g.kernel[1]);
          Im2ColRow(x + i * image_stride + ch * isz, g, kd, kh, kw, col + r * ld + i * osz);
        }
      });
}

template void Im2Col<float>(const KernelContext&, const float*, int64_t, int64_t, int64_t,
                            const WindowGeometry&, float*);
template void Im2Col<double>(const KernelContext&, const double*, int64_t, int64_t, int64_t,
                             const WindowGeometry&, double*);

}  // namespace fleet::cpu
