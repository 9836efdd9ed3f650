// Sliding-window geometry shared by Conv, ConvTranspose and the pools: reads
// kernel_shape, strides, dilations, pads and auto_pad, validates them against
// the input, and computes output sizes. Geometry is kept in a canonical 3-D
// form (1-D and 2-D windows get leading unit dims), so one set of loops serves
// 1-, 2- and 3-D ops.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "executor/kernel.h"

namespace fleet::cpu {

struct WindowGeometry {
  int rank = 0;  // number of spatial dims of the op (1..3)
  // Canonical 3-D: index 3 - rank + i holds spatial dim i.
  std::array<int64_t, 3> in{1, 1, 1}, out{1, 1, 1}, kernel{1, 1, 1}, stride{1, 1, 1},
      dilation{1, 1, 1}, pad_begin{0, 0, 0}, pad_end{0, 0, 0};

  int64_t in_size() const { return in[0] * in[1] * in[2]; }
  int64_t out_size() const { return out[0] * out[1] * out[2]; }
  int64_t kernel_size() const { return kernel[0] * kernel[1] * kernel[2]; }
  // The op's spatial output dims, without the canonical padding.
  std::vector<int64_t> OutDims() const;
};

// Strides, dilations and explicit pads for `rank` spatial dims, checked for
// length and sign (strides and dilations >= 1, pads >= 0). `allow_dilations`
// false rejects a dilations attribute other than all ones (ops whose opset 17
// form has none).
absl::Status ReadWindowAttrs(const KernelContext& ctx, int rank, bool allow_dilations,
                             WindowGeometry* geo);

// Fills `geo` for a forward window op (Conv, pools) over `in` spatial dims with
// `kernel` (already validated >= 1): reads the attributes, applies auto_pad,
// computes the output dims (ceil_mode rounds up, never starting a window in the
// end padding), and rejects windows larger than the padded input. `input_name`
// is used in messages.
absl::Status ComputeForwardWindow(const KernelContext& ctx, const char* input_name,
                                  const std::vector<int64_t>& in,
                                  const std::vector<int64_t>& kernel, bool ceil_mode,
                                  bool allow_dilations, WindowGeometry* geo);

// Reads a kernel_shape attribute of `rank` positive entries; absent leaves
// `kernel` unchanged and returns ok (callers that need it check for an empty
// vector).
absl::Status ReadKernelShape(const KernelContext& ctx, int rank, std::vector<int64_t>* kernel);

// Checks the inputs Conv and ConvTranspose share: X is [N,C,spatial...] (rank >= 3) and W has
// X's dtype and rank. `op` names the op in the message.
absl::Status CheckConvInputs(const KernelContext& ctx, const char* op);

// Checks the optional bias (input 2) of Conv / ConvTranspose: X's dtype, shape [m]. `why_m`
// says where m comes from, for the message.
absl::Status CheckConvBias(const KernelContext& ctx, int64_t m, const char* why_m);

// The outputs o in [*lo, *hi) of a window row whose input coordinate o * stride
// + offset lies in [0, n); `count` outputs in all. Lets loops split into
// padding and in-bounds runs.
inline void ValidRange(int64_t offset, int64_t stride, int64_t n, int64_t count, int64_t* lo,
                       int64_t* hi) {
  int64_t l = offset >= 0 ? 0 : (-offset + stride - 1) / stride;
  int64_t h = n - offset <= 0 ? 0 : (n - offset + stride - 1) / stride;
  h = h < count ? h : count;
  *lo = l < h ? l : h;
  *hi = h;
}

}  // namespace fleet::cpu
