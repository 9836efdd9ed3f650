// What the CUDA kernel functions of this folder share: the op's stream and GPU, launch errors
// as a Status naming the op, and temporaries in device memory.
#pragma once

#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "executor/cuda/cuda_api.h"
#include "executor/kernel.h"
#include "kernels/cuda/launch.h"

namespace fleet::cuda {

inline cudaStream_t Stream(const KernelContext& ctx) { return StreamOf(ctx.device()); }

// The op's GPU, from the environment's CudaDevices (for its cuBLAS and cuDNN handles), or
// FAILED_PRECONDITION when the runtime installed none for the op's device.
absl::StatusOr<CudaDevice*> GpuOf(const KernelContext& ctx);

// OK, or INTERNAL prefixed with the op: "op 'r' (Relu): Relu: CUDA error 98 (...): ...".
absl::Status Launched(const KernelContext& ctx, cudaError_t error, std::string_view what);
absl::Status BlasDone(const KernelContext& ctx, cublasStatus_t status, std::string_view what);

// A temporary of the op's device. It goes back to the caching allocator when the kernel drops
// it, and that allocator reuses memory in stream order, so work enqueued before is safe.
inline Tensor Scratch(const KernelContext& ctx, DataType dtype, std::vector<int64_t> shape) {
  return Tensor(dtype, std::move(shape), ctx.device().allocator);
}

// The launchers' name for a 16-bit float dtype: bf16, or else f16.
inline HalfType HalfTypeOf(DataType dtype) {
  return dtype == DataType::kBF16 ? HalfType::kBF16 : HalfType::kF16;
}

}  // namespace fleet::cuda
