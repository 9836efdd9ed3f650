// Gradient kernels of the shape ops (schemas in ir/fleet_grad_ops_shape.cc):
//   fleet.reshape_like  a view of the gradient with the input's shape (Reshape, Flatten,
//                       Squeeze, Unsqueeze): never copies;
//   fleet.concat_grad   cuts Concat's gradient into the inputs' pieces, one pass over the rows;
//   fleet.slice_grad    zeros with the gradient written back where Slice read;
//   fleet.tile_grad     adds the tiles of Tile's gradient.
// Moving kernels work on whole elements by size, so one kernel serves every dtype; tile_grad
// adds and takes f32 and f64.
#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "ir/status_macros.h"
#include "kernels/cpu/concat_plan.h"
#include "kernels/cpu/groups.h"
#include "kernels/cpu/shape_util.h"

namespace fleet::cpu {
namespace {

constexpr int64_t kGrainBytes = 128 * 1024;

absl::Status ReshapeLikeKernel(KernelContext& ctx) {
  if (!ctx.has_input(0) || !ctx.has_input(1)) return ctx.InvalidArgument("needs inputs X and Like");
  const Tensor& x = ctx.input(0);
  const Tensor& like = ctx.input(1);
  if (x.numel() != like.numel()) {
    return ctx.InvalidArgument(absl::StrCat("cannot view ", x.TypeString(), " (", x.numel(),
                                            " elements) as ", ShapeString(like.shape()), " (",
                                            like.numel(), " elements)"));
  }
  ctx.SetOutput(0, x.Reshaped(like.shape()));
  return absl::OkStatus();
}

absl::Status ConcatGradKernel(KernelContext& ctx) {
  FLEET_ASSIGN_OR_RETURN(const ConcatGradPlan plan, PlanConcatGrad(ctx));
  const Tensor& x = ctx.input(0);
  const std::vector<int64_t>& offset = plan.offset;
  const std::vector<int64_t>& select = plan.select;
  const int64_t outer = plan.outer;
  const int64_t x_row = plan.x_row;
  const size_t esize = DataTypeSize(x.dtype());
  std::vector<char*> dst(select.size());
  std::vector<int64_t> begin(select.size()), width(select.size());
  for (size_t k = 0; k < select.size(); ++k) {
    const int64_t i = select[k];
    dst[k] = static_cast<char*>(
        ctx.Output(static_cast<int>(k), x.dtype(), ctx.input(i + 1).shape())->raw_data());
    begin[k] = offset[i] * esize;
    width[k] = (offset[i + 1] - offset[i]) * esize;
  }
  if (x.numel() == 0) return absl::OkStatus();
  const char* src = static_cast<const char*>(x.raw_data());
  const int64_t row_bytes = x_row * static_cast<int64_t>(esize);
  ctx.ParallelFor(outer, std::max<int64_t>(1, kGrainBytes / std::max<int64_t>(row_bytes, 1)),
                  [&](int64_t b, int64_t e) {
                    for (int64_t o = b; o < e; ++o) {
                      const char* row = src + o * row_bytes;
                      for (size_t k = 0; k < dst.size(); ++k) {
                        std::memcpy(dst[k] + o * width[k], row + begin[k], width[k]);
                      }
                    }
                  });
  return absl::OkStatus();
}

// out[sum_d idx_d * out_strides[d]] = in[i] for every index i of `shape` (row-major in `in`):
// the inverse of StridedCopy for strides that name distinct elements, so rows run in parallel.
template <typename T>
void StridedScatter(const KernelContext& ctx, const T* in, const std::vector<int64_t>& shape,
                    const std::vector<int64_t>& out_strides, T* out) {
  const int rank = static_cast<int>(shape.size());
  const int64_t n = rank == 0 ? 1 : shape[rank - 1];
  const int64_t s = rank == 0 ? 0 : out_strides[rank - 1];
  const int64_t rows = n == 0 ? 0 : NumElements(shape) / n;
  const int64_t grain = std::max<int64_t>(1, kGrainBytes / static_cast<int64_t>(sizeof(T) * n + 1));
  ctx.ParallelFor(rows, grain, [&](int64_t row_begin, int64_t row_end) {
    std::vector<int64_t> idx(std::max(rank - 1, 0), 0);
    int64_t offset = 0;
    int64_t r = row_begin;
    for (int d = rank - 2; d >= 0; --d) {
      idx[d] = r % shape[d];
      r /= shape[d];
      offset += idx[d] * out_strides[d];
    }
    for (int64_t row = row_begin; row < row_end; ++row) {
      const T* src = in + row * n;
      T* dst = out + offset;
      if (s == 1) {
        std::memcpy(dst, src, n * sizeof(T));
      } else {
        for (int64_t k = 0; k < n; ++k) dst[k * s] = src[k];
      }
      for (int d = rank - 2; d >= 0; --d) {
        offset += out_strides[d];
        if (++idx[d] < shape[d]) break;
        offset -= idx[d] * out_strides[d];
        idx[d] = 0;
      }
    }
  });
}

absl::Status SliceGradKernel(KernelContext& ctx) {
  for (int i : {0, 1, 2, 3}) {
    if (!ctx.has_input(i)) {
      return ctx.InvalidArgument("needs inputs OutGrad, Like, Starts and Ends");
    }
  }
  const Tensor& dy = ctx.input(0);
  const Tensor& like = ctx.input(1);
  FLEET_ASSIGN_OR_RETURN(const SliceSpec spec, ResolveSlice(ctx, like.shape(), 2));
  if (dy.shape() != spec.out_shape) {
    return ctx.InvalidArgument(absl::StrCat("gradient ", dy.TypeString(), " does not match the ",
                                            "slice ", ShapeString(spec.out_shape), " of ",
                                            ShapeString(like.shape())));
  }
  Tensor* dx = ctx.Output(0, dy.dtype(), like.shape());
  std::memset(dx->raw_data(), 0, dx->nbytes());
  if (dy.numel() == 0) return absl::OkStatus();
  const std::vector<int64_t> dense = DenseStrides(like.shape());
  std::vector<int64_t> strides(like.rank());
  int64_t offset = 0;
  for (int d = 0; d < like.rank(); ++d) {
    strides[d] = dense[d] * spec.step[d];
    offset += spec.start[d] * dense[d];
  }
  DispatchBySize(DataTypeSize(dy.dtype()), [&](auto tag) {
    using T = decltype(tag);
    StridedScatter<T>(ctx, dy.data<T>(), dy.shape(), strides, dx->data<T>() + offset);
  });
  return absl::OkStatus();
}

// dX[i] = sum over the tiles t of dY[t * x_shape + i]. Each row of dY (last dim) adds its
// tiles into one row of dX; rows of dY that land on the same row of dX add up in order.
template <typename T>
absl::Status TileGradTyped(KernelContext& ctx) {
  const Tensor& dy = ctx.input(0);
  const Tensor& like = ctx.input(1);
  const int rank = like.rank();
  bool ok = dy.rank() == rank;
  for (int d = 0; ok && d < rank; ++d) {
    ok = like.dim(d) == 0 ? dy.dim(d) == 0 : dy.dim(d) % like.dim(d) == 0;
  }
  if (!ok) {
    return ctx.InvalidArgument(absl::StrCat("gradient ", dy.TypeString(), " is not a tiling of ",
                                            like.TypeString(), "; expected multiples of its dims"));
  }
  Tensor* dx = ctx.Output(0, dy.dtype(), like.shape());
  T* dst = dx->data<T>();
  std::fill(dst, dst + dx->numel(), T(0));
  if (dy.numel() == 0) return absl::OkStatus();
  const T* src = dy.data<T>();
  if (rank == 0) {
    dst[0] = src[0];
    return absl::OkStatus();
  }
  const std::vector<int64_t> dense = DenseStrides(like.shape());
  const int64_t n = like.dim(rank - 1);
  const int64_t tiles = dy.dim(rank - 1) / n;
  const int64_t rows = dy.numel() / dy.dim(rank - 1);
  std::vector<int64_t> idx(rank - 1, 0);   // index of the row in dY
  std::vector<int64_t> wrap(rank - 1, 0);  // the same in dX (idx modulo like's dims)
  int64_t offset = 0;                      // dX offset of the row
  for (int64_t r = 0; r < rows; ++r) {
    T* __restrict out = dst + offset;
    const T* in = src + r * tiles * n;
    for (int64_t t = 0; t < tiles; ++t) {
      const T* __restrict tile = in + t * n;
      for (int64_t k = 0; k < n; ++k) out[k] += tile[k];
    }
    for (int d = rank - 2; d >= 0; --d) {
      offset += dense[d];
      if (++wrap[d] == like.dim(d)) {
        wrap[d] = 0;
        offset -= like.dim(d) * dense[d];
      }
      if (++idx[d] < dy.dim(d)) break;
      idx[d] = 0;  // dY's dim is a multiple of dX's, so wrap[d] is 0 again too
    }
  }
  return absl::OkStatus();
}

absl::Status TileGradKernel(KernelContext& ctx) {
  if (!ctx.has_input(0) || !ctx.has_input(1)) {
    return ctx.InvalidArgument("needs inputs OutGrad and Like");
  }
  switch (ctx.input(0).dtype()) {
    case DataType::kF32:
      return TileGradTyped<float>(ctx);
    case DataType::kF64:
      return TileGradTyped<double>(ctx);
    default:
      return ctx.Unimplemented(absl::StrCat("tile_grad of ", ctx.input(0).TypeString()));
  }
}

}  // namespace

void RegisterShapeGradKernels(KernelTable& table) {
  table.AddAnyType("fleet.reshape_like", Device::kCpu, &ReshapeLikeKernel, 0);
  table.SetTraits("fleet.reshape_like", Device::kCpu, KernelTraits::Aliases({{0, 0}}));
  table.AddAnyType("fleet.concat_grad", Device::kCpu, &ConcatGradKernel, 0);
  table.AddAnyType("fleet.slice_grad", Device::kCpu, &SliceGradKernel, 0);
  table.Add("fleet.tile_grad", Device::kCpu, {DataType::kF32, DataType::kF64}, &TileGradKernel);
}

}  // namespace fleet::cpu
