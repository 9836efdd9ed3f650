// CUDA devices as the executor uses them. One CudaDevice is one GPU: its compute stream, its
// caching allocator (no cudaMalloc in a training step's steady state), a pinned host allocator
// for the reader's batches with asynchronous uploads from it, and the library handles its
// kernels share (cuBLAS, cuDNN), bound to the stream.
//
// This header needs no CUDA headers, so the tools include it in every build; the handles are
// given as void* here and typed by executor/cuda/cuda_api.h, which kernels include.
//
// How it is wired (docs/executor.md, "CUDA through the same seam"):
//   auto gpu = CudaDevice::Open(0);                        // cuda:0
//   options.devices.push_back((*gpu)->context());          // ExecutorOptions
//   auto devices = std::make_shared<CudaDevices>();
//   devices->Add(std::move(*gpu));
//   env->Set(devices);                                     // kernels: env().Get<CudaDevices>()
// Thread safety: a CudaDevice may be used from several threads; every call first makes its GPU
// current on the calling thread. The device must outlive every executor and tensor using it.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "executor/caching_allocator.h"
#include "executor/cuda/in_flight_buffers.h"
#include "executor/device_context.h"
#include "executor/tensor.h"

namespace fleet {

// How many CUDA devices this process can use: 0 when there is no driver or no GPU (not an error).
int CudaDeviceCount();

// Why CudaDeviceCount() is 0, for messages: "CUDA error 100 (cudaErrorNoDevice): no CUDA-capable
// device is detected". Empty when there is a device.
std::string CudaUnavailableReason();

struct CudaDeviceOptions {
  // Lets cuBLAS run f32 GEMMs on TF32 tensor cores (10-bit mantissa products, f32 sums), as
  // PyTorch's allow_tf32 does. Off: full f32 products (parity tests turn it off).
  bool allow_tf32 = true;
};

class CudaDevice {
 public:
  // Opens GPU `ordinal`: a non-blocking stream, the allocators and a cuBLAS handle on that
  // stream. FAILED_PRECONDITION naming the reason when the GPU does not exist or cannot be used.
  static absl::StatusOr<std::unique_ptr<CudaDevice>> Open(int ordinal,
                                                          const CudaDeviceOptions& options = {});
  // Waits for the stream's work, then frees the handles, the cached memory and the stream.
  ~CudaDevice();
  CudaDevice(const CudaDevice&) = delete;
  CudaDevice& operator=(const CudaDevice&) = delete;

  int ordinal() const { return ordinal_; }
  const CudaDeviceOptions& options() const { return options_; }
  // "NVIDIA H100 80GB HBM3 (sm_90, 79.1 GiB)".
  const std::string& description() const { return description_; }

  // The executor's view of this GPU: {cuda:N, allocator(), stream()}.
  DeviceContext context() const;
  // Device memory, cached; reused in the order of stream().
  CachingAllocator* allocator() const { return allocator_.get(); }
  // Page-locked host memory (host-accessible), cached, so that copies to and from the GPU are
  // DMA. fleet-run's reader gathers its batches into it (ReaderOptions::batch_allocator).
  CachingAllocator* pinned_host_allocator() const { return pinned_.get(); }

  // Enqueues the copy of `host` (a dense tensor in pinned_host_allocator()'s memory) into
  // `device` (this GPU's memory, the same byte size) on stream() and returns without waiting,
  // as PyTorch's non_blocking copies do: the stream orders the copy before the kernels that
  // read `device`, and the host goes on. `host`'s buffer is held (InFlightBuffers) until the
  // stream has passed the copy, so the pinned cache cannot reuse it while the DMA reads it;
  // the host must not write into it meanwhile. Holds are released by later uploads,
  // Synchronize() and the destructor.
  absl::Status UploadAsync(const Tensor& host, Tensor& device);
  // Uploads whose source is still held (tests, diagnostics).
  size_t uploads_in_flight() const;

  void* stream() const { return stream_; }  // cudaStream_t
  void* blas() const { return blas_; }      // cublasHandle_t, on stream()
  // cudnnHandle_t on stream(), created on first use (cuDNN's set-up costs ~100 ms and memory
  // that models without convolutions need not pay). An error says why cuDNN cannot start.
  absl::StatusOr<void*> dnn();

  // Waits until the stream's work is done (releasing every upload's source); the first error of
  // that work, if any.
  absl::Status Synchronize() const;
  // Makes this GPU current on the calling thread.
  absl::Status MakeCurrent() const;

 private:
  CudaDevice() = default;

  int ordinal_ = 0;
  CudaDeviceOptions options_;
  std::string description_;
  void* stream_ = nullptr;
  void* blas_ = nullptr;
  void* dnn_ = nullptr;
  std::mutex dnn_mu_;
  std::unique_ptr<CachingAllocator> allocator_;
  std::unique_ptr<CachingAllocator> pinned_;
  std::unique_ptr<InFlightBuffers> uploads_;  // sources of uploads the stream still reads
};

// The GPUs a process opened, as a service of the ExecutionEnv (executor/execution_env.h).
// Filled before any executor runs; read-only afterwards, so lookups need no lock.
class CudaDevices {
 public:
  void Add(std::unique_ptr<CudaDevice> device);
  // The GPU of that ordinal, or null when it was not opened.
  CudaDevice* Find(int ordinal) const;
  const std::vector<std::unique_ptr<CudaDevice>>& all() const { return devices_; }

 private:
  std::vector<std::unique_ptr<CudaDevice>> devices_;
};

}  // namespace fleet
