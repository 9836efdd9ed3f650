#include "executor/tensor.h"

#include <malloc.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace fleet {

const char* DeviceName(Device device) { return device == Device::kCuda ? "cuda" : "cpu"; }

namespace {

// Executors free and re-allocate the same activation sizes every run. glibc serves blocks over
// its mmap threshold (128 KiB at first) with fresh mappings and returns them on free, so every
// run would pay page faults again; keeping such blocks in the heap lets them be reused. The
// settings are process-wide and made once.
void KeepLargeBlocksForReuse() {
  static const bool done = [] {
    mallopt(M_MMAP_THRESHOLD, 256 << 20);
    mallopt(M_TRIM_THRESHOLD, 512 << 20);
    return true;
  }();
  (void)done;
}

}  // namespace

std::shared_ptr<Buffer> Buffer::Allocate(size_t bytes) {
  KeepLargeBlocksForReuse();
  constexpr size_t kAlign = 64;
  size_t rounded = (bytes + kAlign - 1) / kAlign * kAlign;
  if (rounded == 0) rounded = kAlign;
  void* p = std::aligned_alloc(kAlign, rounded);
  if (p == nullptr) throw std::bad_alloc();
  return std::shared_ptr<Buffer>(new Buffer(p, bytes, [p] { std::free(p); }));
}

std::shared_ptr<Buffer> Buffer::Wrap(void* data, size_t bytes, std::function<void()> release) {
  return std::shared_ptr<Buffer>(new Buffer(data, bytes, std::move(release)));
}

Buffer::~Buffer() {
  if (release_) release_();
}

int64_t NumElements(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

int64_t CheckedNumBytes(DataType dtype, const std::vector<int64_t>& shape) {
  int64_t bytes = static_cast<int64_t>(DataTypeSize(dtype));
  for (int64_t d : shape) {
    if (d < 0 || __builtin_mul_overflow(bytes, d, &bytes) || bytes > kMaxTensorBytes) return -1;
  }
  return bytes;
}

std::string ShapeString(const std::vector<int64_t>& shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ","), "]");
}

Tensor::Tensor(DataType dtype, std::vector<int64_t> shape, Device device)
    : dtype_(dtype), shape_(std::move(shape)), numel_(NumElements(shape_)), device_(device) {
  if (CheckedNumBytes(dtype_, shape_) < 0) {
    // A kernel asked for a shape it did not validate: writing into a wrapped-around size would
    // corrupt memory, so stop here. Kernels check sizes from data with CheckOutputSize.
    std::fprintf(stderr, "fleet: internal error: tensor %s is too large or invalid\n",
                 TypeString().c_str());
    std::abort();
  }
  buffer_ = Buffer::Allocate(nbytes());
}

Tensor::Tensor(DataType dtype, std::vector<int64_t> shape, std::shared_ptr<Buffer> buffer,
               size_t offset, Device device)
    : dtype_(dtype),
      shape_(std::move(shape)),
      numel_(NumElements(shape_)),
      buffer_(std::move(buffer)),
      offset_(offset),
      device_(device) {}

Tensor Tensor::Zeros(DataType dtype, std::vector<int64_t> shape) {
  Tensor t(dtype, std::move(shape));
  if (t.nbytes() > 0) std::memset(t.raw_data(), 0, t.nbytes());
  return t;
}

Tensor Tensor::FromValue(const TensorValue& value) {
  Tensor t(value.dtype, value.shape);
  size_t n = std::min(t.nbytes(), value.bytes.size());
  if (n > 0) std::memcpy(t.raw_data(), value.bytes.data(), n);
  return t;
}

Tensor Tensor::Reshaped(std::vector<int64_t> shape) const {
  return Tensor(dtype_, std::move(shape), buffer_, offset_, device_);
}

struct Tensor::SparseInfo {
  Tensor rows;
  int64_t height = 0;
};

Tensor Tensor::Clone() const {
  Tensor t(dtype_, shape_, device_);
  if (nbytes() > 0) std::memcpy(t.raw_data(), raw_data(), nbytes());
  if (sparse_ != nullptr) return SparseRows(std::move(t), sparse_->rows.Clone(), sparse_->height);
  return t;
}

Tensor Tensor::SparseRows(Tensor values, Tensor rows, int64_t height) {
  auto info = std::make_shared<SparseInfo>();
  info->rows = std::move(rows);
  info->height = height;
  values.sparse_ = std::move(info);
  return values;
}

const Tensor& Tensor::rows() const { return sparse_->rows; }

int64_t Tensor::sparse_height() const { return sparse_->height; }

TensorValue Tensor::ToValue() const {
  TensorValue v;
  v.dtype = dtype_;
  v.shape = shape_;
  v.bytes.assign(static_cast<const char*>(raw_data()), nbytes());
  return v;
}

std::string Tensor::TypeString() const {
  std::string s = absl::StrCat(std::string(DataTypeName(dtype_)), ShapeString(shape_));
  if (sparse_ != nullptr) absl::StrAppend(&s, " rows of ", sparse_->height);
  return s;
}

}  // namespace fleet
