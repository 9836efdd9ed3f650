// im2col for Conv: unrolls the input patches of several images into the column matrix that
// Conv multiplies its weights with; col2im, its adjoint, adds a column matrix back into
// images (the input gradient of Conv).
#pragma once

#include <cstdint>

#include "executor/kernel.h"
#include "kernels/cpu/window.h"

namespace fleet::cpu {

// Fills `col`, a row-major [channels * kernel_size, images * out_size] matrix: row
// (ch * kernel_size + k) holds, for kernel tap k, the input value under that tap for every output
// position of every image (image i's columns at [i * out_size, (i + 1) * out_size)), 0 in the
// padding. Channel `ch` of image `i` is the plane at x + i * image_stride + ch * in_size. Runs in
// parallel over (channel, image) pairs.
template <typename T>
void Im2Col(const KernelContext& ctx, const T* x, int64_t image_stride, int64_t images,
            int64_t channels, const WindowGeometry& g, T* col);

// The adjoint of Im2Col: overwrites every channel plane of every image in `x` (same layout as
// Im2Col's input) with the sum of the column entries that Im2Col would have read from each
// element (0 where no tap reads). `col` is laid out as Im2Col writes it. Runs in parallel over
// (channel, image) pairs.
template <typename T>
void Col2Im(const KernelContext& ctx, const T* col, int64_t images, int64_t channels,
            const WindowGeometry& g, T* x, int64_t image_stride);

}  // namespace fleet::cpu
