// Adds the collective communication kernels to a kernel table (runtime/collective/kernels.cc).
// Tools call RegisterCollectiveKernels at start-up beside RegisterCpuKernels, and
// RegisterDeviceCollectiveKernels beside a device's kernels.
//
// The kernels reach the rank's communicator through their ExecutionEnv: host kernels the
// Communicator (env->Set<Communicator>(...)), device kernels the DeviceCommunicator (NCCL on a
// GPU, communicator.h); without one they fail with FAILED_PRECONDITION naming the op.
// They are asynchronous: each queues its collective and returns with its outputs pending, so the
// ops that follow run while the data travels, and the first reader of an output waits for it.
// Out[i] is X[i]'s buffer, reduced or overwritten in place: the program names one var for both
// (the allreduce pass does), since a different Out var would share X's memory.
#pragma once

#include "executor/kernel.h"

namespace fleet {

// fleet.allreduce, fleet.reduce, fleet.broadcast, fleet.allgather_rows and fleet.is_rank on the
// host.
void RegisterCollectiveKernels(KernelTable& table);

// fleet.allreduce, fleet.reduce and fleet.broadcast on `device` (f32, f64, f16), through the
// DeviceCommunicator. The others stay on the host, where placement leaves them.
void RegisterDeviceCollectiveKernels(KernelTable& table, Device device);

}  // namespace fleet
