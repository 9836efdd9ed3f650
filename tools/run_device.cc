#include "tools/run_device.h"

#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "ir/status_macros.h"
#include "passes/pass.h"
#include "passes/pass_manager.h"
#include "passes/registry.h"
#include "tools/human_bytes.h"

#ifdef FLEET_HAS_CUDA
#include "executor/cuda/cuda_device.h"
#include "kernels/cuda/register.h"
#include "runtime/collective/nccl/nccl_communicator.h"
#endif

namespace fleet {

struct RunDevice::Gpu {
#ifdef FLEET_HAS_CUDA
  std::shared_ptr<CudaDevices> devices = std::make_shared<CudaDevices>();
#endif
};

RunDevice::~RunDevice() = default;

absl::StatusOr<std::unique_ptr<RunDevice>> RunDevice::Open(const RunDeviceOptions& options,
                                                           KernelTable& kernels) {
  absl::StatusOr<DeviceId> id = ParseDeviceId(options.device);
  if (!id.ok())
    return absl::InvalidArgumentError(absl::StrCat("--device: ", id.status().message()));
  std::unique_ptr<RunDevice> device(new RunDevice());
  device->id_ = *id;
  device->description_ = id->ToString();
  if (id->type == Device::kCpu) return device;
#ifdef FLEET_HAS_CUDA
  CudaDeviceOptions cuda_options;
  cuda_options.allow_tf32 = options.allow_tf32;
  absl::StatusOr<std::unique_ptr<CudaDevice>> gpu = CudaDevice::Open(id->ordinal, cuda_options);
  if (!gpu.ok()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "--device ", options.device, ": ", gpu.status().message(),
        " (hint: --device cpu runs on the host; CUDA_VISIBLE_DEVICES picks the GPUs)"));
  }
  device->description_ = absl::StrCat(id->ToString(), " (", (*gpu)->description(),
                                      options.allow_tf32 ? ", TF32 matmuls" : ", f32 matmuls", ")");
  device->contexts_.push_back((*gpu)->context());
  device->gpu_ = std::make_shared<Gpu>();
  device->gpu_->devices->Add(std::move(*gpu));
  RegisterCudaKernels(kernels);
  return device;
#else
  (void)kernels;
  return absl::FailedPreconditionError(absl::StrCat(
      "--device ", options.device,
      ": this fleet-run was built without CUDA (hint: build where the CUDA toolkit is installed, "
      "with -DFLEET_WITH_CUDA=ON or AUTO; --device cpu runs on the host)"));
#endif
}

Allocator* RunDevice::batch_allocator() const {
#ifdef FLEET_HAS_CUDA
  if (gpu_ != nullptr) return gpu_->devices->all().front()->pinned_host_allocator();
#endif
  return nullptr;
}

void RunDevice::InstallIn(ExecutionEnv& env) const {
#ifdef FLEET_HAS_CUDA
  if (gpu_ != nullptr) env.Set(gpu_->devices);
#else
  (void)env;
#endif
}

absl::StatusOr<std::vector<std::string>> RunDevice::Place(Program& program,
                                                          const KernelTable& kernels) const {
  if (is_host()) return std::vector<std::string>();
  std::set<std::string> host_ops;
  std::vector<std::string> host_inputs;
  std::set<std::string> seen;
  std::vector<const Op*> ops;  // every block's: place-device places sub-blocks too
  for (const Block& block : program.blocks) {
    for (const Op& op : block.ops) ops.push_back(&op);
  }
  for (const Op* op_ptr : ops) {
    const Op& op = *op_ptr;
    if (!seen.insert(op.type).second) continue;
    if (!kernels.HasKernels(op.type, id_.type)) {
      host_ops.insert(op.type);
      continue;
    }
    for (int input : kernels.Traits(op.type, id_.type).host_inputs) {
      host_inputs.push_back(absl::StrCat(op.type, ":", input));
    }
  }
  PassContext ctx;
  ctx.SetOption("place-device.device", id_.ToString());
  ctx.SetOption("place-device.host-ops", absl::StrJoin(host_ops, ","));
  ctx.SetOption("insert-memcpy.host-inputs", absl::StrJoin(host_inputs, ","));
  ctx.SetOption("insert-memcpy.persistable-home", "device");
  PassManager passes;
  // One update launch for each run of updates (fleet.multi_update), then the placement.
  const bool fuse = kernels.HasKernels("fleet.multi_update", id_.type);
  FLEET_RETURN_IF_ERROR(passes.AddPipeline(
      fuse ? "fuse-optimizer,place-device,insert-memcpy" : "place-device,insert-memcpy",
      PassRegistry::WithBuiltins()));
  FLEET_RETURN_IF_ERROR(passes.Run(program, ctx).status());
  return std::vector<std::string>(host_ops.begin(), host_ops.end());
}

Fleet::DeviceCommunicatorFactory RunDevice::CommunicatorFactory() const {
#ifdef FLEET_HAS_CUDA
  if (gpu_ == nullptr) return nullptr;
  std::shared_ptr<CudaDevices> devices = gpu_->devices;
  const int ordinal = id_.ordinal;
  return [devices, ordinal](
             const CommunicatorOptions& comm) -> absl::StatusOr<std::shared_ptr<Communicator>> {
    NcclCommunicatorOptions options;
    options.rank = comm.rank;
    options.size = comm.size;
    options.store = comm.store;
    options.prefix = comm.prefix;
    options.device = devices->Find(ordinal);
    options.rendezvous_timeout = comm.rendezvous_timeout;
    options.timeout = comm.timeout;
    FLEET_ASSIGN_OR_RETURN(std::shared_ptr<NcclCommunicator> nccl,
                           NcclCommunicator::Create(std::move(options)));
    // The communicator uses its GPU until its end: whoever holds it last closes NCCL first,
    // then lets the GPU go.
    Communicator* raw = nccl.get();
    return std::shared_ptr<Communicator>(raw, [nccl, devices](Communicator*) mutable {
      nccl.reset();
      devices.reset();
    });
  };
#else
  return nullptr;
#endif
}

std::string RunDevice::MemoryLine() const {
#ifdef FLEET_HAS_CUDA
  if (gpu_ == nullptr) return "";
  const CudaDevice& gpu = *gpu_->devices->all().front();
  const Allocator::Stats used = gpu.allocator()->stats();
  const CachingAllocator::CacheStats cache = gpu.allocator()->cache_stats();
  // The batches' pinned memory is host memory: counted apart from the device's.
  const CachingAllocator::CacheStats pinned = gpu.pinned_host_allocator()->cache_stats();
  return absl::StrCat(id_.ToString(), " memory: peak ", HumanBytes(used.peak_bytes),
                      " in tensors, ", HumanBytes(cache.peak_reserved_bytes), " reserved at most, ",
                      cache.segment_reserves,
                      " cudaMalloc calls; pinned batches: ", HumanBytes(pinned.peak_reserved_bytes),
                      " reserved at most");
#else
  return "";
#endif
}

}  // namespace fleet
