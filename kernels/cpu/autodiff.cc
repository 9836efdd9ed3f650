// Kernels the autodiff pass relies on for every model: fleet.fill_like (seeds the loss
// gradient, zero gradients of unused outputs) and fleet.grad_sum (adds the gradients of a var
// read by several ops, dense or sparse rows).
#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "kernels/cpu/fill.h"
#include "ir/status_macros.h"
#include "kernels/cpu/groups.h"

namespace fleet::cpu {
namespace {

absl::Status FillLikeKernel(KernelContext& ctx) {
  if (!ctx.has_input(0)) return ctx.InvalidArgument("input 'X' is missing");
  const Tensor& x = ctx.input(0);
  Tensor* out = ctx.Output(0, x.dtype(), x.shape());
  const float value = ctx.GetFloat("value", 0.0f);
  if (!FillTensor(out, value)) {
    return ctx.Unimplemented(absl::StrCat("fill_like of ", x.TypeString()));
  }
  return absl::OkStatus();
}

// Number of elements of one row of a [height, ...] table.
int64_t RowSize(const Tensor& t) { return t.rank() == 0 ? 1 : t.numel() / std::max<int64_t>(1, t.dim(0)); }

// Adds the sparse rows `s` into the dense table `out`; ids are checked against the height.
template <typename T>
absl::Status ScatterAddRows(const KernelContext& ctx, const Tensor& s, Tensor* out) {
  const int64_t n = s.rows().numel();
  const int64_t width = RowSize(*out);
  if (s.rank() == 0 || s.dim(0) != n || s.numel() != n * width) {
    return ctx.InvalidArgument(absl::StrCat("sparse rows ", s.TypeString(),
                                            " do not fit a table ", out->TypeString()));
  }
  const int64_t* ids = s.rows().data<int64_t>();
  const T* src = s.data<T>();
  T* dst = out->data<T>();
  const int64_t height = out->dim(0);
  for (int64_t r = 0; r < n; ++r) {
    if (ids[r] < 0 || ids[r] >= height) {
      return ctx.InvalidArgument(
          absl::StrCat("sparse row id ", ids[r], " is outside the table's ", height, " rows"));
    }
    T* row = dst + ids[r] * width;
    const T* in = src + r * width;
    for (int64_t j = 0; j < width; ++j) row[j] += in[j];
  }
  return absl::OkStatus();
}

template <typename T>
absl::Status GradSumTyped(KernelContext& ctx) {
  std::vector<const Tensor*> parts;
  for (int i = 0; i < ctx.num_inputs(); ++i) {
    if (!ctx.has_input(i)) continue;
    if (ctx.input(i).dtype() != ctx.input(0).dtype()) {
      return ctx.InvalidArgument(absl::StrCat("input ", i, " is ", ctx.input(i).TypeString(),
                                              "; expected the dtype of input 0"));
    }
    parts.push_back(&ctx.input(i));
  }
  if (parts.empty()) return ctx.InvalidArgument("has no inputs");
  bool all_sparse = true;
  const Tensor* dense_like = nullptr;
  for (const Tensor* p : parts) {
    all_sparse = all_sparse && p->is_sparse_rows();
    if (!p->is_sparse_rows() && dense_like == nullptr) dense_like = p;
  }
  if (all_sparse) {
    // Concatenate ids and values: repeated ids add up where the rows are applied.
    int64_t n = 0;
    std::vector<int64_t> shape = parts[0]->shape();
    for (const Tensor* p : parts) {
      if (p->rank() != parts[0]->rank() || RowSize(*p) != RowSize(*parts[0]) ||
          p->sparse_height() != parts[0]->sparse_height()) {
        return ctx.InvalidArgument(absl::StrCat("sparse rows ", p->TypeString(), " and ",
                                                parts[0]->TypeString(), " do not add up"));
      }
      n += p->rows().numel();
    }
    shape[0] = n;
    Tensor values(parts[0]->dtype(), shape);
    Tensor rows(DataType::kI64, {n});
    int64_t at = 0;
    const int64_t width = RowSize(*parts[0]);
    for (const Tensor* p : parts) {
      const int64_t k = p->rows().numel();
      std::memcpy(rows.data<int64_t>() + at, p->rows().data<int64_t>(), k * sizeof(int64_t));
      std::memcpy(values.data<T>() + at * width, p->data<T>(), k * width * sizeof(T));
      at += k;
    }
    ctx.SetOutput(0, Tensor::SparseRows(std::move(values), std::move(rows),
                                        parts[0]->sparse_height()));
    return absl::OkStatus();
  }
  Tensor* out = ctx.Output(0, dense_like->dtype(), dense_like->shape());
  T* dst = out->data<T>();
  const int64_t n = out->numel();
  // Dense parts first (the first one is copied, so nothing is zeroed), then the sparse rows.
  bool started = false;
  for (const Tensor* p : parts) {
    if (p->is_sparse_rows()) continue;
    if (p->shape() != out->shape()) {
      return ctx.InvalidArgument(absl::StrCat("input ", p->TypeString(), " differs from ",
                                              out->TypeString()));
    }
    const T* src = p->data<T>();
    const bool first = !started;
    ctx.ParallelFor(n, 1 << 15, [&](int64_t begin, int64_t end) {
      if (first) {
        std::memcpy(dst + begin, src + begin, (end - begin) * sizeof(T));
      } else {
        for (int64_t j = begin; j < end; ++j) dst[j] += src[j];
      }
    });
    started = true;
  }
  for (const Tensor* p : parts) {
    if (!p->is_sparse_rows()) continue;
    if (out->rank() == 0 || p->sparse_height() != out->dim(0)) {
      return ctx.InvalidArgument(absl::StrCat("sparse rows ", p->TypeString(),
                                              " do not fit ", out->TypeString()));
    }
    FLEET_RETURN_IF_ERROR(ScatterAddRows<T>(ctx, *p, out));
  }
  return absl::OkStatus();
}

absl::Status GradSumKernel(KernelContext& ctx) {
  if (!ctx.has_input(0)) return ctx.InvalidArgument("input 0 is missing");
  switch (ctx.input(0).dtype()) {
    case DataType::kF32: return GradSumTyped<float>(ctx);
    case DataType::kF64: return GradSumTyped<double>(ctx);
    default:
      return ctx.Unimplemented(absl::StrCat("grad_sum of ", ctx.input(0).TypeString()));
  }
}

}  // namespace

void RegisterAutodiffKernels(KernelTable& table) {
  table.AddAnyType("fleet.fill_like", Device::kCpu, &FillLikeKernel, 0);
  table.Add("fleet.grad_sum", Device::kCpu, {DataType::kF32, DataType::kF64}, &GradSumKernel);
}

}  // namespace fleet::cpu
