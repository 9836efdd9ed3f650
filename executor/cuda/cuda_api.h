// The typed side of executor/cuda/cuda_device.h, for code that calls CUDA itself (the device
// runtime, kernels/cuda/): CUDA and cuBLAS errors as absl::Status, and the typed handles of an
// op's device.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <string_view>

#include "absl/status/status.h"
#include "executor/cuda/cuda_device.h"
#include "executor/device_context.h"
#include "ir/status_macros.h"

namespace fleet {

// OK, or INTERNAL "WHAT: CUDA error 2 (cudaErrorMemoryAllocation): out of memory". Clears the
// thread's last-error state for errors that leave the device usable.
absl::Status CudaStatus(cudaError_t error, std::string_view what);
// OK, or INTERNAL "WHAT: cuBLAS error 13 (CUBLAS_STATUS_EXECUTION_FAILED)".
absl::Status CublasStatus(cublasStatus_t status, std::string_view what);

inline cudaStream_t StreamOf(const DeviceContext& device) {
  return static_cast<cudaStream_t>(device.stream);
}
inline cublasHandle_t BlasOf(const CudaDevice& device) {
  return static_cast<cublasHandle_t>(device.blas());
}

}  // namespace fleet

// Returns the error of a CUDA runtime call, naming the call.
#define FLEET_CUDA_RETURN_IF_ERROR(call) FLEET_RETURN_IF_ERROR(::fleet::CudaStatus((call), #call))
#define FLEET_CUBLAS_RETURN_IF_ERROR(call) \
  FLEET_RETURN_IF_ERROR(::fleet::CublasStatus((call), #call))
