#include "kernels/cuda/kernel_util.h"

#include <string>

#include "absl/strings/str_cat.h"

namespace fleet::cuda {

absl::StatusOr<CudaDevice*> GpuOf(const KernelContext& ctx) {
  const int ordinal = ctx.device().device.ordinal;
  const CudaDevices* devices = ctx.env().Get<CudaDevices>();
  CudaDevice* gpu = devices != nullptr ? devices->Find(ordinal) : nullptr;
  if (gpu == nullptr) {
    return ctx.FailedPrecondition(
        absl::StrCat("cuda:", ordinal,
                     " is not among the execution environment's CudaDevices (hint: the runtime "
                     "opens each GPU with CudaDevice::Open and installs them with env.Set)"));
  }
  return gpu;
}

absl::Status Launched(const KernelContext& ctx, cudaError_t error, std::string_view what) {
  if (error == cudaSuccess) return absl::OkStatus();
  const absl::Status status = CudaStatus(error, what);
  return absl::InternalError(
      absl::StrCat(std::string(ctx.op_description()), ": ", std::string(status.message())));
}

absl::Status BlasDone(const KernelContext& ctx, cublasStatus_t status, std::string_view what) {
  if (status == CUBLAS_STATUS_SUCCESS) return absl::OkStatus();
  const absl::Status s = CublasStatus(status, what);
  return absl::InternalError(
      absl::StrCat(std::string(ctx.op_description()), ": ", std::string(s.message())));
}

}  // namespace fleet::cuda
