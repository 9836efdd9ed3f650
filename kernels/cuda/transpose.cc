// Transpose on the GPU (f32): the permutation checks of kernels/cpu/transpose.cc, then one
// permuted copy (launch.h LaunchPermute); the identity permutation hands back the input.
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "kernels/cuda/groups.h"
#include "kernels/cuda/kernel_util.h"
#include "kernels/cuda/launch.h"

namespace fleet::cuda {
namespace {

absl::Status TransposeKernel(KernelContext& ctx) {
  if (!ctx.has_input(0)) return ctx.InvalidArgument("missing input 'data'");
  const Tensor& x = ctx.input(0);
  const int rank = x.rank();
  std::vector<int64_t> perm64 = ctx.GetInts("perm", {});
  if (!ctx.HasAttr("perm")) {
    for (int d = rank - 1; d >= 0; --d) perm64.push_back(d);
  }
  if (static_cast<int>(perm64.size()) != rank) {
    return ctx.InvalidArgument(absl::StrCat("perm [", absl::StrJoin(perm64, ","), "] has ",
                                            perm64.size(), " entries; expected ", rank,
                                            " for input ", x.TypeString()));
  }
  std::vector<int> perm(rank);
  std::vector<bool> seen(rank, false);
  bool identity = true;
  for (int i = 0; i < rank; ++i) {
    const int64_t p = perm64[i] < 0 ? perm64[i] + rank : perm64[i];
    if (p < 0 || p >= rank || seen[p]) {
      return ctx.InvalidArgument(absl::StrCat("perm [", absl::StrJoin(perm64, ","),
                                              "] is not a permutation of 0..", rank - 1));
    }
    seen[p] = true;
    perm[i] = static_cast<int>(p);
    identity = identity && p == i;
  }
  if (identity) {
    ctx.SetOutput(0, x);
    return absl::OkStatus();
  }
  if (rank > kMaxRank) {
    return ctx.Unimplemented(absl::StrCat("input ", x.TypeString(), " has rank ", rank,
                                          "; the CUDA Transpose handles at most ", kMaxRank));
  }
  std::vector<int64_t> x_strides(rank, 1);
  for (int d = rank - 2; d >= 0; --d) x_strides[d] = x_strides[d + 1] * x.dim(d + 1);
  PermuteIndex index;
  index.rank = rank;
  std::vector<int64_t> shape(rank);
  for (int i = 0; i < rank; ++i) {
    shape[i] = x.dim(perm[i]);
    index.dims[i] = shape[i];
    index.x_strides[i] = x_strides[perm[i]];
  }
  Tensor* y = ctx.Output(0, x.dtype(), shape);
  return Launched(ctx,
                  LaunchPermute(x.data<float>(), y->data<float>(), y->numel(), index, Stream(ctx)),
                  "transpose kernel");
}

}  // namespace

void RegisterTransposeKernels(KernelTable& table) {
  table.Add("Transpose", Device::kCuda, {DataType::kF32}, &TransposeKernel);
  table.SetTraits("Transpose", Device::kCuda, KernelTraits::Aliases({{0, 0}}));  // identity perm
}

}  // namespace fleet::cuda
