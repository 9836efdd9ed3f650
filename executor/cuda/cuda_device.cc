#include "executor/cuda/cuda_device.h"

#include <cudnn.h>

#include <cstdio>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "executor/cuda/cuda_api.h"

namespace fleet {
namespace {

// A failed copy leaves the device in an unknown state and the Allocator's copy functions have
// no way to report it (allocator.h): stop with the reason.
void CheckCopy(cudaError_t error, const char* what, const DeviceId& device) {
  if (error == cudaSuccess) return;
  std::fprintf(stderr, "fleet: %s: %s failed: CUDA error %d (%s): %s\n", device.ToString().c_str(),
               what, static_cast<int>(error), cudaGetErrorName(error), cudaGetErrorString(error));
  std::abort();
}

// Device memory in segments from cudaMalloc, copies on the device's stream.
class CudaAllocator final : public CachingAllocator {
 public:
  CudaAllocator(int ordinal, cudaStream_t stream)
      : CachingAllocator(DeviceId(Device::kCuda, ordinal), /*host_accessible=*/false),
        ordinal_(ordinal),
        stream_(stream) {}
  ~CudaAllocator() override {
    cudaSetDevice(ordinal_);
    cudaStreamSynchronize(stream_);
    ReleaseAll();
  }

  // The stream orders the copy after the kernels that wrote `src`; the host waits for it,
  // because the caller reads (or frees) the host side when this returns.
  void CopyToHost(void* host_dst, const void* src, size_t bytes) const override {
    if (bytes == 0) return;
    cudaSetDevice(ordinal_);
    CheckCopy(cudaMemcpyAsync(host_dst, src, bytes, cudaMemcpyDeviceToHost, stream_),
              "copy to host", device());
    CheckCopy(cudaStreamSynchronize(stream_), "copy to host", device());
  }
  void CopyFromHost(void* dst, const void* host_src, size_t bytes) const override {
    if (bytes == 0) return;
    cudaSetDevice(ordinal_);
    CheckCopy(cudaMemcpyAsync(dst, host_src, bytes, cudaMemcpyHostToDevice, stream_),
              "copy from host", device());
    CheckCopy(cudaStreamSynchronize(stream_), "copy from host", device());
  }
  void CopyWithin(void* dst, const void* src, size_t bytes) const override {
    if (bytes == 0) return;
    cudaSetDevice(ordinal_);
    CheckCopy(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, stream_),
              "copy on the device", device());
    CheckCopy(cudaStreamSynchronize(stream_), "copy on the device", device());
  }

 protected:
  void* ReserveSegment(size_t bytes) override {
    cudaSetDevice(ordinal_);
    void* data = nullptr;
    if (cudaMalloc(&data, bytes) != cudaSuccess) {
      cudaGetLastError();  // out of memory leaves the device usable: clear the error
      return nullptr;
    }
    return data;
  }
  void ReleaseSegment(void* data, size_t /*bytes*/) override {
    cudaSetDevice(ordinal_);
    cudaFree(data);
  }

 private:
  int ordinal_;
  cudaStream_t stream_;
};

// Page-locked host memory, cached too: cudaHostAlloc is slower than cudaMalloc.
class PinnedHostAllocator final : public CachingAllocator {
 public:
  explicit PinnedHostAllocator(int ordinal)
      : CachingAllocator(DeviceId(Device::kCpu), /*host_accessible=*/true), ordinal_(ordinal) {}
  ~PinnedHostAllocator() override { ReleaseAll(); }

 protected:
  void* ReserveSegment(size_t bytes) override {
    // The reader's prefetch thread allocates here: without a current device, cudaHostAlloc
    // would start a context on cuda:0 whatever GPU this is.
    cudaSetDevice(ordinal_);
    void* data = nullptr;
    if (cudaHostAlloc(&data, bytes, cudaHostAllocPortable) != cudaSuccess) {
      cudaGetLastError();
      return nullptr;
    }
    return data;
  }
  void ReleaseSegment(void* data, size_t /*bytes*/) override {
    cudaSetDevice(ordinal_);
    cudaFreeHost(data);
  }

 private:
  int ordinal_;
};

}  // namespace

absl::Status CudaStatus(cudaError_t error, std::string_view what) {
  if (error == cudaSuccess) return absl::OkStatus();
  cudaGetLastError();
  return absl::InternalError(absl::StrCat(std::string(what), ": CUDA error ",
                                          static_cast<int>(error), " (", cudaGetErrorName(error),
                                          "): ", cudaGetErrorString(error)));
}

absl::Status CublasStatus(cublasStatus_t status, std::string_view what) {
  if (status == CUBLAS_STATUS_SUCCESS) return absl::OkStatus();
  return absl::InternalError(absl::StrCat(std::string(what), ": cuBLAS error ",
                                          static_cast<int>(status), " (",
                                          cublasGetStatusName(status), ")"));
}

int CudaDeviceCount() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return count;
}

std::string CudaUnavailableReason() {
  int count = 0;
  const cudaError_t error = cudaGetDeviceCount(&count);
  if (error != cudaSuccess) {
    cudaGetLastError();
    return absl::StrCat("CUDA error ", static_cast<int>(error), " (", cudaGetErrorName(error),
                        "): ", cudaGetErrorString(error));
  }
  return count > 0 ? "" : "the CUDA driver reports no device";
}

absl::StatusOr<std::unique_ptr<CudaDevice>> CudaDevice::Open(int ordinal,
                                                             const CudaDeviceOptions& options) {
  const int count = CudaDeviceCount();
  if (ordinal < 0 || ordinal >= count) {
    const std::string why =
        count == 0
            ? CudaUnavailableReason()
            : absl::StrCat("this machine has ", count, " (cuda:0",
                           count > 1 ? absl::StrCat("..cuda:", count - 1) : std::string(), ")");
    return absl::FailedPreconditionError(
        absl::StrCat("cuda:", ordinal, " is not available: ", why));
  }
  std::unique_ptr<CudaDevice> device(new CudaDevice());
  device->ordinal_ = ordinal;
  device->options_ = options;
  const std::string where = absl::StrCat("cuda:", ordinal);
  FLEET_CUDA_RETURN_IF_ERROR(cudaSetDevice(ordinal));
  cudaDeviceProp props{};
  FLEET_CUDA_RETURN_IF_ERROR(cudaGetDeviceProperties(&props, ordinal));
  device->description_ =
      absl::StrFormat("%s (sm_%d%d, %.1f GiB)", props.name, props.major, props.minor,
                      static_cast<double>(props.totalGlobalMem) / (1 << 30));
  cudaStream_t stream = nullptr;
  FLEET_CUDA_RETURN_IF_ERROR(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  device->stream_ = stream;
  device->allocator_ = std::make_unique<CudaAllocator>(ordinal, stream);
  device->pinned_ = std::make_unique<PinnedHostAllocator>(ordinal);
  device->uploads_ = std::make_unique<InFlightBuffers>(ordinal, stream);
  cublasHandle_t blas = nullptr;
  FLEET_CUBLAS_RETURN_IF_ERROR(cublasCreate(&blas));
  device->blas_ = blas;
  FLEET_CUBLAS_RETURN_IF_ERROR(cublasSetStream(blas, stream));
  FLEET_CUBLAS_RETURN_IF_ERROR(cublasSetMathMode(
      blas, options.allow_tf32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH));
  return device;
}

CudaDevice::~CudaDevice() {
  cudaSetDevice(ordinal_);
  if (stream_ != nullptr) cudaStreamSynchronize(static_cast<cudaStream_t>(stream_));
  if (dnn_ != nullptr) cudnnDestroy(static_cast<cudnnHandle_t>(dnn_));
  if (blas_ != nullptr) cublasDestroy(static_cast<cublasHandle_t>(blas_));
  allocator_.reset();  // before the stream it copies on
  uploads_.reset();    // holds pinned buffers: before their allocator
  pinned_.reset();
  if (stream_ != nullptr) cudaStreamDestroy(static_cast<cudaStream_t>(stream_));
}

DeviceContext CudaDevice::context() const {
  return DeviceContext{DeviceId(Device::kCuda, ordinal_), allocator_.get(), stream_};
}

absl::StatusOr<void*> CudaDevice::dnn() {
  std::lock_guard<std::mutex> lock(dnn_mu_);
  if (dnn_ != nullptr) return dnn_;
  FLEET_RETURN_IF_ERROR(MakeCurrent());
  cudnnHandle_t handle = nullptr;
  const cudnnStatus_t status = cudnnCreate(&handle);
  if (status != CUDNN_STATUS_SUCCESS) {
    return absl::FailedPreconditionError(
        absl::StrCat("cuda:", ordinal_, ": cuDNN cannot start: ", cudnnGetErrorString(status)));
  }
  const cudnnStatus_t bound = cudnnSetStream(handle, static_cast<cudaStream_t>(stream_));
  if (bound != CUDNN_STATUS_SUCCESS) {
    cudnnDestroy(handle);
    return absl::InternalError(
        absl::StrCat("cuda:", ordinal_, ": cudnnSetStream: ", cudnnGetErrorString(bound)));
  }
  dnn_ = handle;
  return dnn_;
}

absl::Status CudaDevice::UploadAsync(const Tensor& host, Tensor& device) {
  if (host.buffer() == nullptr || host.buffer()->allocator() != pinned_.get() ||
      host.is_sparse_rows() || device.device() != DeviceId(Device::kCuda, ordinal_) ||
      device.nbytes() != host.nbytes()) {
    return absl::InternalError(absl::StrCat(
        "cuda:", ordinal_, ": UploadAsync of ", host.TypeString(), " on ", host.device().ToString(),
        " into ", device.TypeString(), " on ", device.device().ToString(),
        "; expected a dense pinned tensor of the same size"));
  }
  if (host.nbytes() == 0) return absl::OkStatus();
  FLEET_RETURN_IF_ERROR(MakeCurrent());
  FLEET_RETURN_IF_ERROR(
      CudaStatus(cudaMemcpyAsync(device.raw_data(), host.raw_data(), host.nbytes(),
                                 cudaMemcpyHostToDevice, static_cast<cudaStream_t>(stream_)),
                 absl::StrCat("cuda:", ordinal_, ": upload of ", host.TypeString())));
  const absl::Status held = uploads_->Hold(host.buffer());
  if (!held.ok()) {
    // Unheld, the source may be reused as soon as the caller drops it: wait for the copy.
    FLEET_RETURN_IF_ERROR(Synchronize());
  }
  return held;
}

size_t CudaDevice::uploads_in_flight() const { return uploads_->size(); }

absl::Status CudaDevice::Synchronize() const {
  FLEET_RETURN_IF_ERROR(MakeCurrent());
  FLEET_RETURN_IF_ERROR(CudaStatus(cudaStreamSynchronize(static_cast<cudaStream_t>(stream_)),
                                   absl::StrCat("cuda:", ordinal_, ": the stream's work")));
  uploads_->ReleaseFinished();  // all of them: the stream has passed every copy
  return absl::OkStatus();
}

absl::Status CudaDevice::MakeCurrent() const {
  return CudaStatus(cudaSetDevice(ordinal_), absl::StrCat("cudaSetDevice(", ordinal_, ")"));
}

void CudaDevices::Add(std::unique_ptr<CudaDevice> device) { devices_.push_back(std::move(device)); }

CudaDevice* CudaDevices::Find(int ordinal) const {
  for (const auto& device : devices_) {
    if (device->ordinal() == ordinal) return device.get();
  }
  return nullptr;
}

}  // namespace fleet
