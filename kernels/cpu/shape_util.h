// Helpers shared by the shape and index kernels (shape.cc, transpose.cc, slice_pad.cc, index.cc,
// index_misc.cc): dtype-agnostic element copies, strided copies, reading integer inputs and
// normalising axes. Private to kernels/cpu.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "executor/kernel.h"
#include "ir/status_macros.h"

namespace fleet::cpu {

// Registration of the files split out of shape.cc / index.cc.
void RegisterTransposeKernels(KernelTable& table);  // Transpose, Expand, Tile, DepthToSpace...
void RegisterSlicePadKernels(KernelTable& table);   // Slice, Pad, Concat, Split
void RegisterIndexMiscKernels(KernelTable& table);  // TopK, CumSum, Range, Constant, Trilu...

// Calls fn(T{}) with T an unsigned integer type as wide as one element (1, 2, 4 or 8 bytes), so
// byte-level kernels can move whole elements. Element sizes outside that set are not used.
template <typename Fn>
void DispatchBySize(size_t element_size, Fn&& fn) {
  switch (element_size) {
    case 1:
      fn(uint8_t{});
      break;
    case 2:
      fn(uint16_t{});
      break;
    case 4:
      fn(uint32_t{});
      break;
    default:
      fn(uint64_t{});
      break;
  }
}

// Copies out[i] = in[sum_d idx_d * in_strides[d]] for every index of `shape`, row-major into
// `out`. Strides are in elements and may be 0 (broadcast) or negative (reversed slices); `in`
// points at the element of index 0. Merges contiguous dimensions, memcpy's rows where it can,
// transposes swapped last dims in cache blocks, and splits large copies across ctx's pool.
void StridedCopy(const KernelContext& ctx, const void* in, std::vector<int64_t> shape,
                 std::vector<int64_t> in_strides, void* out, size_t element_size);

// Walks every element of `shape` (the indices' shape) in row-major order, calling
// fn(element, offset) with offset = sum over d != axis of idx_d * data_strides[d].
template <typename Fn>
absl::Status ForEachElement(const std::vector<int64_t>& shape,
                            const std::vector<int64_t>& data_strides, int axis, Fn&& fn) {
  const int rank = static_cast<int>(shape.size());
  const int64_t total = NumElements(shape);
  std::vector<int64_t> idx(rank, 0);
  int64_t offset = 0;
  for (int64_t e = 0; e < total; ++e) {
    absl::Status s = fn(e, offset);
    if (!s.ok()) return s;
    for (int d = rank - 1; d >= 0; --d) {
      const int64_t step = d == axis ? 0 : data_strides[d];
      offset += step;
      if (++idx[d] < shape[d]) break;
      offset -= idx[d] * step;
      idx[d] = 0;
    }
  }
  return absl::OkStatus();
}

// Row-major strides (in elements) of a dense tensor of this shape.
std::vector<int64_t> DenseStrides(const std::vector<int64_t>& shape);

// The values of an integer tensor (i32 or i64) as int64; `what` names it in the error.
absl::StatusOr<std::vector<int64_t>> ReadInts(const KernelContext& ctx, const Tensor& t,
                                              std::string_view what);
// Element `i` of a numeric tensor of any dtype (floats truncated toward zero).
int64_t ElementAsInt64(const Tensor& t, int64_t i);
// Element `i` of a numeric tensor of any dtype as double.
double ElementAsDouble(const Tensor& t, int64_t i);

// What Slice reads from a tensor of some shape: the output shape, and per dim the first index
// read and the step between reads (dims Slice does not name: 0 and 1).
struct SliceSpec {
  std::vector<int64_t> out_shape;
  std::vector<int64_t> start;
  std::vector<int64_t> step;
};
// Resolves Slice's starts, ends and optional axes and steps, read from inputs first..first+3
// of ctx (opset 13 semantics: clamping, negative indices and steps), against `shape`.
absl::StatusOr<SliceSpec> ResolveSlice(const KernelContext& ctx, const std::vector<int64_t>& shape,
                                       int first);

// Maps axis in [-rank, rank) to [0, rank), or INVALID_ARGUMENT naming `what`.
absl::StatusOr<int> NormalizeAxis(const KernelContext& ctx, int64_t axis, int rank,
                                  std::string_view what = "axis");

// Writes the value 1 of this dtype to `dst` (EyeLike, OneHot defaults).
void WriteOne(DataType dtype, void* dst);

}  // namespace fleet::cpu
