// Tensor: a typed, shaped view of a reference-counted buffer.
//
// Copies of a Tensor share the buffer (cheap); Reshaped() and the like return views of the same
// memory. Element data is dense row-major. Thread safety: a Tensor is a value; concurrent reads
// are safe, concurrent writes to one buffer are the caller's business.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "ir/attribute.h"
#include "ir/dtype.h"

namespace fleet {

enum class Device : int8_t { kCpu = 0, kCuda = 1 };
const char* DeviceName(Device device);

// Owns (or borrows, via the deleter) one allocation.
class Buffer {
 public:
  // Allocates `bytes` bytes, 64-byte aligned, uninitialised, on the CPU.
  static std::shared_ptr<Buffer> Allocate(size_t bytes);
  // Wraps memory owned elsewhere; `release` runs when the last user lets go (may be empty).
  static std::shared_ptr<Buffer> Wrap(void* data, size_t bytes, std::function<void()> release);

  ~Buffer();
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;

  void* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  Buffer(void* data, size_t size, std::function<void()> release)
      : data_(data), size_(size), release_(std::move(release)) {}
  void* data_;
  size_t size_;
  std::function<void()> release_;
};

class Tensor {
 public:
  Tensor() = default;
  // Allocates an uninitialised tensor.
  Tensor(DataType dtype, std::vector<int64_t> shape, Device device = Device::kCpu);
  // A view over `buffer` starting at `offset` bytes.
  Tensor(DataType dtype, std::vector<int64_t> shape, std::shared_ptr<Buffer> buffer,
         size_t offset = 0, Device device = Device::kCpu);

  // A zero-filled tensor.
  static Tensor Zeros(DataType dtype, std::vector<int64_t> shape);
  // A copy of an IR constant.
  static Tensor FromValue(const TensorValue& value);
  // A scalar (rank 0) tensor.
  template <typename T>
  static Tensor Scalar(DataType dtype, T value) {
    Tensor t(dtype, {});
    *t.data<T>() = value;
    return t;
  }

  bool defined() const { return buffer_ != nullptr || dtype_ != DataType::kUndefined; }
  DataType dtype() const { return dtype_; }
  Device device() const { return device_; }
  const std::vector<int64_t>& shape() const { return shape_; }
  int rank() const { return static_cast<int>(shape_.size()); }
  // Dimension i; negative i counts from the end.
  int64_t dim(int i) const { return shape_[i < 0 ? i + rank() : i]; }
  int64_t numel() const { return numel_; }
  size_t nbytes() const { return static_cast<size_t>(numel_) * DataTypeSize(dtype_); }

  void* raw_data() { return buffer_ ? static_cast<char*>(buffer_->data()) + offset_ : nullptr; }
  const void* raw_data() const {
    return buffer_ ? static_cast<const char*>(buffer_->data()) + offset_ : nullptr;
  }
  template <typename T>
  T* data() { return static_cast<T*>(raw_data()); }
  template <typename T>
  const T* data() const { return static_cast<const T*>(raw_data()); }

  const std::shared_ptr<Buffer>& buffer() const { return buffer_; }

  // Same data, another shape with the same element count (the caller checks the count).
  Tensor Reshaped(std::vector<int64_t> shape) const;
  // A deep copy with its own buffer.
  Tensor Clone() const;
  // The IR constant holding the same elements.
  TensorValue ToValue() const;

  // "f32[2,3]"; sparse rows print as "f32[2,3] rows of 100".
  std::string TypeString() const;

  // Sparse rows (VarKind::kSparseRows), e.g. the gradient of an embedding table: this tensor
  // holds the values [n, ...] of n rows of a table with `height` rows; `rows` (i64 [n]) names
  // them. Ids may repeat; repeated rows add up. The values may be any dense tensor whose first
  // dim is n.
  static Tensor SparseRows(Tensor values, Tensor rows, int64_t height);
  bool is_sparse_rows() const { return sparse_ != nullptr; }
  // The row ids (i64 [n]); only for sparse rows.
  const Tensor& rows() const;
  // The table's row count; only for sparse rows.
  int64_t sparse_height() const;

 private:
  struct SparseInfo;
  DataType dtype_ = DataType::kUndefined;
  std::vector<int64_t> shape_;
  int64_t numel_ = 0;
  std::shared_ptr<Buffer> buffer_;
  size_t offset_ = 0;
  Device device_ = Device::kCpu;
  std::shared_ptr<const SparseInfo> sparse_;  // set for sparse rows only
};

// Product of dims (1 for rank 0).
int64_t NumElements(const std::vector<int64_t>& shape);

// The largest tensor Fleet allocates (bytes); larger requests are refused, not attempted.
inline constexpr int64_t kMaxTensorBytes = int64_t{1} << 38;

// Bytes of a `dtype` tensor of `shape`, or -1 when a dim is negative, the product overflows or
// it exceeds kMaxTensorBytes. Kernels whose output size comes from input *values* (OneHot's
// depth, Range, ConstantOfShape, Expand, Tile, ...) check it via KernelContext::CheckOutputSize.
int64_t CheckedNumBytes(DataType dtype, const std::vector<int64_t>& shape);
// "[2,3]"
std::string ShapeString(const std::vector<int64_t>& shape);

}  // namespace fleet
