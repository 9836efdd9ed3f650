// Fused buckets: the tensors of one collective call seen as one array, their elements back to
// back in order, so that one transfer carries them all. Used by the communicators (internal to
// runtime/collective).
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "executor/tensor.h"

namespace fleet {

// OK when `tensors` can travel in one call: defined, dense, host-readable tensors of one dtype,
// f32 or f64. Otherwise INVALID_ARGUMENT naming `op` and the tensor:
// "allreduce: tensor 1 is f64[3]; expected f32 like tensor 0 (a bucket holds one dtype)".
absl::Status CheckBucket(std::string_view op, const std::vector<Tensor>& tensors);

// OK when `tensor`'s element count splits into `ranks` equal parts (Communicator::
// ReduceScatter); otherwise INVALID_ARGUMENT: "reduce_scatter: f32[5] has 5 elements, which
// do not split into 2 equal parts, one per rank".
absl::Status CheckEqualParts(const Tensor& tensor, int ranks);

// The number of elements of all the tensors.
int64_t BucketElements(const std::vector<Tensor>& tensors);

// The bytes of all the tensors (of a bucket CheckBucket accepted: one dtype).
int64_t BucketBytes(const std::vector<Tensor>& tensors);

// A run of elements of one tensor: `count` elements at `data`, which are elements
// [offset + at, offset + at + count) of the bucket for the range that BucketSpans was asked for.
struct BucketSpan {
  void* data;
  int64_t at;
  int64_t count;
};

// The runs that elements [offset, offset + count) of the bucket fall in, in order.
std::vector<BucketSpan> BucketSpans(std::vector<Tensor>& tensors, int64_t offset, int64_t count);

// Copies elements [offset, offset + count) of the bucket to `dst` (of the bucket's dtype).
void PackBucket(const std::vector<Tensor>& tensors, int64_t offset, int64_t count, void* dst);

// Copies `count` elements from `src` into elements [offset, offset + count) of the bucket,
// dividing each by `divisor` when it is not 1 (a mean is a sum divided by the rank count). With
// `stream`, writes around the caches (stream_store.h): for buckets too large to stay in them.
void UnpackBucket(const void* src, int64_t offset, int64_t count, int divisor,
                  std::vector<Tensor>& tensors, bool stream = false);

}  // namespace fleet
