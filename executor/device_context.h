// DeviceContext: what a kernel needs to work on its op's device: which device, the allocator its
// outputs come from, and the device's work queue.
//
// The executor gives every op the context of the op's own device (Op::device, or the
// executor's default), and KernelContext::Output allocates from it. On the CPU the stream is
// null and a kernel's work is done when it returns. A CUDA build installs one context per GPU:
// its caching allocator and a cudaStream_t in `stream`; a CUDA kernel enqueues on that stream
// and hands the executor an event recorded on it (see docs/executor.md).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "executor/allocator.h"
#include "executor/tensor.h"
#include "ir/device.h"
#include "ir/program.h"

namespace fleet {

struct DeviceContext {
  DeviceId device;
  Allocator* allocator = nullptr;  // not owned; outlives every executor that uses the context
  void* stream = nullptr;          // the device's queue (a cudaStream_t); null on the CPU
};

// The host's context: cpu, CpuAllocator(), no stream.
inline const DeviceContext& CpuDeviceContext() {
  static const DeviceContext context{DeviceId(Device::kCpu), CpuAllocator(), nullptr};
  return context;
}

// The host's context followed by `extra`, where a context for cpu replaces the host's.
// INVALID_ARGUMENT for a context without an allocator of its device, or a device given twice.
absl::StatusOr<std::vector<DeviceContext>> DeviceContexts(const std::vector<DeviceContext>& extra);

// The context of `op`'s device (Op::device, or `default_device` when empty) among `devices`.
// INVALID_ARGUMENT for a device string that does not parse, FAILED_PRECONDITION for a device
// not in `devices`: "op 'fc1' (MatMul): device cuda:1 is not available (have cpu, cuda:0)".
absl::StatusOr<const DeviceContext*> FindOpDevice(const Op& op, const std::string& op_description,
                                                  DeviceId default_device,
                                                  const std::vector<DeviceContext>& devices);

// FAILED_PRECONDITION naming the first input a kernel on `device` cannot read: one on another
// device, unless both memories are the host's; and for the inputs listed in `host_inputs`
// (KernelTraits::host_inputs, read by the kernel on the host), one the host cannot touch.
// `slots[i]` is input i's slot in `slot_names`.
absl::Status CheckInputDevices(const std::string& op_description, const DeviceContext& device,
                               const std::vector<const Tensor*>& inputs,
                               const std::vector<int>& slots,
                               const std::vector<std::string>& slot_names,
                               const std::vector<int>& host_inputs = {});

}  // namespace fleet
