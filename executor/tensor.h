// Tensor: a typed, shaped view of a reference-counted buffer.
//
// Copies of a Tensor share the buffer (cheap); Reshaped() and the like return views of the same
// memory. Element data is dense row-major. A tensor lives where its buffer's allocator put it
// (executor/allocator.h): host memory unless an allocator for another device is given; data()
// of a tensor in device memory is a device pointer that host code must not dereference.
// Thread safety: a Tensor is a value; concurrent reads are safe, concurrent writes to one buffer
// are the caller's business.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "executor/allocator.h"
#include "ir/attribute.h"
#include "ir/device.h"
#include "ir/dtype.h"

namespace fleet {

class Tensor {
 public:
  Tensor() = default;
  // Allocates an uninitialised tensor from `allocator` (null: the host, CpuAllocator()).
  Tensor(DataType dtype, std::vector<int64_t> shape, Allocator* allocator = nullptr);
  // A view over `buffer` starting at `offset` bytes.
  Tensor(DataType dtype, std::vector<int64_t> shape, std::shared_ptr<Buffer> buffer,
         size_t offset = 0);

  // A zero-filled tensor from `allocator` (null: the host). Device memory is filled through the
  // device's copy function.
  static Tensor Zeros(DataType dtype, std::vector<int64_t> shape, Allocator* allocator = nullptr);
  // A copy of an IR constant, in `allocator`'s memory (null: the host).
  static Tensor FromValue(const TensorValue& value, Allocator* allocator = nullptr);
  // A host scalar (rank 0) tensor.
  template <typename T>
  static Tensor Scalar(DataType dtype, T value) {
    Tensor t(dtype, {});
    *t.data<T>() = value;
    return t;
  }

  bool defined() const { return buffer_ != nullptr || dtype_ != DataType::kUndefined; }
  DataType dtype() const { return dtype_; }
  // Where the elements are: the device of the buffer's allocator (the host when undefined).
  DeviceId device() const { return buffer_ ? buffer_->device() : DeviceId(); }
  // Whether host code may read data() directly (true for an undefined tensor).
  bool host_accessible() const { return buffer_ == nullptr || buffer_->host_accessible(); }
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
  // A deep copy with its own buffer from `allocator`; null: the allocator of this tensor's
  // buffer (the same device). Copies between devices go through their copy functions.
  Tensor Clone(Allocator* allocator = nullptr) const;
  // The IR constant holding the same elements (copied to the host when on a device).
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
