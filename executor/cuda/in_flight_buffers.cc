#include "executor/cuda/in_flight_buffers.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "executor/cuda/cuda_api.h"

namespace fleet {

InFlightBuffers::~InFlightBuffers() {
  ReleaseAll();
  cudaSetDevice(ordinal_);
  for (void* event : spare_events_) cudaEventDestroy(static_cast<cudaEvent_t>(event));
}

absl::Status InFlightBuffers::Hold(std::shared_ptr<Buffer> buffer) {
  std::lock_guard<std::mutex> lock(mu_);
  ReleaseFinishedLocked();
  FLEET_CUDA_RETURN_IF_ERROR(cudaSetDevice(ordinal_));
  cudaEvent_t event = nullptr;
  if (!spare_events_.empty()) {
    event = static_cast<cudaEvent_t>(spare_events_.back());
    spare_events_.pop_back();
  } else {
    FLEET_CUDA_RETURN_IF_ERROR(cudaEventCreateWithFlags(&event, cudaEventDisableTiming));
  }
  const cudaError_t recorded = cudaEventRecord(event, static_cast<cudaStream_t>(stream_));
  if (recorded != cudaSuccess) {
    spare_events_.push_back(event);
    return CudaStatus(recorded, absl::StrCat("cuda:", ordinal_, ": recording an upload's event"));
  }
  entries_.push_back(Entry{event, std::move(buffer)});
  return absl::OkStatus();
}

void InFlightBuffers::ReleaseFinished() {
  std::lock_guard<std::mutex> lock(mu_);
  ReleaseFinishedLocked();
}

void InFlightBuffers::ReleaseAll() {
  std::lock_guard<std::mutex> lock(mu_);
  if (entries_.empty()) return;
  cudaSetDevice(ordinal_);
  while (!entries_.empty()) {
    // An error here means the stream's work failed: it reads the buffer no more either way.
    cudaEventSynchronize(static_cast<cudaEvent_t>(entries_.front().event));
    Recycle(entries_.front());
    entries_.pop_front();
  }
}

size_t InFlightBuffers::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return entries_.size();
}

void InFlightBuffers::ReleaseFinishedLocked() {
  if (entries_.empty()) return;
  cudaSetDevice(ordinal_);
  while (!entries_.empty()) {
    const cudaError_t done = cudaEventQuery(static_cast<cudaEvent_t>(entries_.front().event));
    if (done == cudaErrorNotReady) {
      // Not an error (the copy still runs, and so do those queued after it), but the runtime
      // records it as the thread's last error: clear it.
      cudaGetLastError();
      break;
    }
    Recycle(entries_.front());
    entries_.pop_front();
  }
}

void InFlightBuffers::Recycle(Entry& entry) {
  entry.buffer.reset();
  spare_events_.push_back(entry.event);
}

}  // namespace fleet
