#include "runtime/collective/bucket.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "ir/dtype.h"
#include "runtime/collective/stream_store.h"

namespace fleet {
namespace {

// Calls fn(tensor, first element in the tensor, element count, first element in the range) for
// each tensor piece that elements [offset, offset + count) of the bucket cover.
template <typename Tensors, typename Fn>
void ForEachPiece(Tensors& tensors, int64_t offset, int64_t count, Fn fn) {
  int64_t start = 0;  // the bucket index of the current tensor's first element
  for (auto& t : tensors) {
    const int64_t begin = std::max(offset, start);
    const int64_t end = std::min(offset + count, start + t.numel());
    if (begin < end) fn(t, begin - start, end - begin, begin - offset);
    start += t.numel();
    if (start >= offset + count) break;
  }
}

template <typename T>
void Divide(const T* src, T* dst, int64_t n, T divisor) {
  for (int64_t i = 0; i < n; ++i) dst[i] = src[i] / divisor;
}

}  // namespace

absl::Status CheckBucket(std::string_view op_name, const std::vector<Tensor>& tensors) {
  const std::string op(op_name);
  for (size_t i = 0; i < tensors.size(); ++i) {
    const Tensor& t = tensors[i];
    if (!t.defined()) {
      return absl::InvalidArgumentError(absl::StrCat(op, ": tensor ", i, " is undefined"));
    }
    if (t.is_sparse_rows()) {
      return absl::InvalidArgumentError(
          absl::StrCat(op, ": tensor ", i, " is sparse rows (", t.TypeString(),
                       "); expected a dense tensor (hint: gather sparse rows with AllGather)"));
    }
    if (!t.host_accessible()) {
      return absl::InvalidArgumentError(
          absl::StrCat(op, ": tensor ", i, " lives on ", t.device().ToString(),
                       "; expected host memory (hint: copy it with fleet.memcpy first)"));
    }
    if (t.dtype() != DataType::kF32 && t.dtype() != DataType::kF64) {
      return absl::InvalidArgumentError(
          absl::StrCat(op, ": tensor ", i, " is ", t.TypeString(), "; expected f32 or f64"));
    }
    if (t.dtype() != tensors[0].dtype()) {
      return absl::InvalidArgumentError(absl::StrCat(
          op, ": tensor ", i, " is ", t.TypeString(), "; expected ",
          DataTypeName(tensors[0].dtype()), " like tensor 0 (a bucket holds one dtype)"));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckEqualParts(const Tensor& tensor, int ranks) {
  if (!tensor.defined() || ranks < 1 || tensor.numel() % ranks == 0) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("reduce_scatter: ", tensor.TypeString(), " has ", tensor.numel(),
                   " elements, which do not split into ", ranks, " equal parts, one per rank"));
}

int64_t BucketElements(const std::vector<Tensor>& tensors) {
  int64_t n = 0;
  for (const Tensor& t : tensors) n += t.numel();
  return n;
}

int64_t BucketBytes(const std::vector<Tensor>& tensors) {
  if (tensors.empty()) return 0;
  return BucketElements(tensors) * static_cast<int64_t>(DataTypeSize(tensors[0].dtype()));
}

std::vector<BucketSpan> BucketSpans(std::vector<Tensor>& tensors, int64_t offset, int64_t count) {
  std::vector<BucketSpan> spans;
  if (tensors.empty()) return spans;
  const size_t size = DataTypeSize(tensors[0].dtype());
  ForEachPiece(tensors, offset, count, [&](Tensor& t, int64_t first, int64_t n, int64_t at) {
    spans.push_back(BucketSpan{static_cast<char*>(t.raw_data()) + first * size, at, n});
  });
  return spans;
}

void PackBucket(const std::vector<Tensor>& tensors, int64_t offset, int64_t count, void* dst) {
  if (tensors.empty()) return;
  const size_t size = DataTypeSize(tensors[0].dtype());
  char* out = static_cast<char*>(dst);
  ForEachPiece(tensors, offset, count, [&](const Tensor& t, int64_t first, int64_t n, int64_t at) {
    std::memcpy(out + at * size, static_cast<const char*>(t.raw_data()) + first * size, n * size);
  });
}

void UnpackBucket(const void* src, int64_t offset, int64_t count, int divisor,
                  std::vector<Tensor>& tensors, bool stream) {
  if (tensors.empty()) return;
  const DataType dtype = tensors[0].dtype();
  const size_t size = DataTypeSize(dtype);
  const char* in = static_cast<const char*>(src);
  ForEachPiece(tensors, offset, count, [&](Tensor& t, int64_t first, int64_t n, int64_t at) {
    char* out = static_cast<char*>(t.raw_data()) + first * size;
    if (divisor == 1) {
      if (stream) {
        StreamCopy(out, in + at * size, n * size);
      } else {
        std::memcpy(out, in + at * size, n * size);
      }
    } else if (dtype == DataType::kF32) {
      const float* from = reinterpret_cast<const float*>(in) + at;
      float* to = reinterpret_cast<float*>(out);
      if (stream) {
        StreamDivide(from, to, n, static_cast<float>(divisor));
      } else {
        Divide(from, to, n, static_cast<float>(divisor));
      }
    } else {
      const double* from = reinterpret_cast<const double*>(in) + at;
      double* to = reinterpret_cast<double*>(out);
      if (stream) {
        StreamDivide(from, to, n, static_cast<double>(divisor));
      } else {
        Divide(from, to, n, static_cast<double>(divisor));
      }
    }
  });
}

}  // namespace fleet
