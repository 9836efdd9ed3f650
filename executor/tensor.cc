#include "executor/tensor.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace fleet {

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

Tensor::Tensor(DataType dtype, std::vector<int64_t> shape, Allocator* allocator)
    : dtype_(dtype), shape_(std::move(shape)), numel_(NumElements(shape_)) {
  if (CheckedNumBytes(dtype_, shape_) < 0) {
    // A kernel asked for a shape it did not validate: writing into a wrapped-around size would
    // corrupt memory, so stop here. Kernels check sizes from data with CheckOutputSize.
    std::fprintf(stderr, "fleet: internal error: tensor %s is too large or invalid\n",
                 TypeString().c_str());
    std::abort();
  }
  buffer_ = (allocator != nullptr ? allocator : CpuAllocator())->Allocate(nbytes());
}

Tensor::Tensor(DataType dtype, std::vector<int64_t> shape, std::shared_ptr<Buffer> buffer,
               size_t offset)
    : dtype_(dtype),
      shape_(std::move(shape)),
      numel_(NumElements(shape_)),
      buffer_(std::move(buffer)),
      offset_(offset) {}

namespace {

// Copies `bytes` host bytes into the (possibly device) memory of `t`.
void FillFromHost(Tensor& t, const void* host_src, size_t bytes) {
  if (bytes == 0) return;
  if (t.host_accessible()) {
    std::memcpy(t.raw_data(), host_src, bytes);
  } else {
    t.buffer()->allocator()->CopyFromHost(t.raw_data(), host_src, bytes);
  }
}

}  // namespace

Tensor Tensor::Zeros(DataType dtype, std::vector<int64_t> shape, Allocator* allocator) {
  Tensor t(dtype, std::move(shape), allocator);
  if (t.nbytes() == 0) return t;
  if (t.host_accessible()) {
    std::memset(t.raw_data(), 0, t.nbytes());
  } else {
    FillFromHost(t, std::vector<char>(t.nbytes(), 0).data(), t.nbytes());
  }
  return t;
}

Tensor Tensor::FromValue(const TensorValue& value, Allocator* allocator) {
  Tensor t(value.dtype, value.shape, allocator);
  FillFromHost(t, value.bytes.data(), std::min(t.nbytes(), value.bytes.size()));
  return t;
}

Tensor Tensor::Reshaped(std::vector<int64_t> shape) const {
  return Tensor(dtype_, std::move(shape), buffer_, offset_);
}

struct Tensor::SparseInfo {
  Tensor rows;
  int64_t height = 0;
};

Tensor Tensor::Clone(Allocator* allocator) const {
  Allocator* from = buffer_ != nullptr ? buffer_->allocator() : CpuAllocator();
  Allocator* to = allocator != nullptr ? allocator : from;
  Tensor t(dtype_, shape_, to);
  CopyBytes(t.raw_data(), *to, raw_data(), *from, nbytes());
  if (sparse_ != nullptr) {
    return SparseRows(std::move(t), sparse_->rows.Clone(allocator), sparse_->height);
  }
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
  if (host_accessible()) {
    v.bytes.assign(static_cast<const char*>(raw_data()), nbytes());
  } else {
    v.bytes.resize(nbytes());
    buffer_->allocator()->CopyToHost(v.bytes.data(), raw_data(), nbytes());
  }
  return v;
}

std::string Tensor::TypeString() const {
  std::string s = absl::StrCat(std::string(DataTypeName(dtype_)), ShapeString(shape_));
  if (sparse_ != nullptr) absl::StrAppend(&s, " rows of ", sparse_->height);
  return s;
}

}  // namespace fleet
