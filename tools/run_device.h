// fleet-run's --device: where a job's ops run. For a GPU it opens the device, adds its kernels
// to the table, places the program's ops on it (ops without a kernel there stay on the host,
// with the copies around them in the program) and gives the executors its context.
#pragma once

#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "executor/allocator.h"
#include "executor/device_context.h"
#include "executor/execution_env.h"
#include "executor/kernel.h"
#include "ir/device.h"
#include "ir/program.h"
#include "runtime/fleet.h"

namespace fleet {

struct RunDeviceOptions {
  std::string device = "cpu";  // --device: cpu, cuda, cuda:N
  bool allow_tf32 = true;      // --no-tf32 turns it off
};

// An opened device. Keeps the GPU (if any) alive; must outlive every executor using it.
class RunDevice {
 public:
  // Parses options.device and, for a GPU, opens it and registers its kernels in `kernels`.
  // FAILED_PRECONDITION when this build has no CUDA or the GPU cannot be used, saying why.
  static absl::StatusOr<std::unique_ptr<RunDevice>> Open(const RunDeviceOptions& options,
                                                         KernelTable& kernels);
  ~RunDevice();

  DeviceId id() const { return id_; }
  bool is_host() const { return id_.type == Device::kCpu; }
  // "cpu", or "cuda:0 (NVIDIA H100 80GB HBM3, sm_90, 79.1 GiB)".
  const std::string& description() const { return description_; }
  // For ExecutorOptions::devices / TrainOptions::devices (empty for the host).
  const std::vector<DeviceContext>& contexts() const { return contexts_; }

  // Where the reader should put batches (ReaderOptions::batch_allocator): the GPU's pinned host
  // memory, from which fleet.memcpy uploads without waiting; null on the host.
  Allocator* batch_allocator() const;

  // Installs the device's services in `env` (kernels find their GPU there).
  void InstallIn(ExecutionEnv& env) const;

  // Places `program`'s main block on this device (fuse-optimizer where the device runs
  // fleet.multi_update, place-device, then insert-memcpy), leaving on the host the op types that
  // have no kernel here; returns those, sorted. Nothing to do on the host.
  absl::StatusOr<std::vector<std::string>> Place(Program& program,
                                                 const KernelTable& kernels) const;

  // For a collective job on this device: what makes each rank's communicator for the device's
  // memory (NCCL on a GPU), for Fleet::InitDeviceCommunicator. Null on the host, whose
  // collectives the host's communicator carries.
  Fleet::DeviceCommunicatorFactory CommunicatorFactory() const;

  // Device memory, then the pinned memory of the batches: "cuda:0 memory: peak 1.2 GiB in
  // tensors, 1.5 GiB reserved at most, 3 cudaMalloc calls; pinned batches: 4.0 MiB reserved at
  // most" (empty on the host).
  std::string MemoryLine() const;

 private:
  RunDevice() = default;
  struct Gpu;

  DeviceId id_;
  std::string description_;
  std::vector<DeviceContext> contexts_;
  std::shared_ptr<Gpu> gpu_;
};

}  // namespace fleet
