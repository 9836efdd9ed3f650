// Adds the collective communication kernels to a kernel table: fleet.allreduce and
// fleet.broadcast on the CPU (runtime/collective/kernels.cc). Tools call it at start-up beside
// RegisterCpuKernels.
//
// The kernels reach the rank's Communicator through their ExecutionEnv
// (env->Set<Communicator>(...)); without one they fail with FAILED_PRECONDITION naming the op.
// They are asynchronous: each queues its collective and returns with its outputs pending, so the
// ops that follow run while the data travels, and the first reader of an output waits for it.
// Out[i] is X[i]'s buffer, reduced or overwritten in place: the program names one var for both
// (the allreduce pass does), since a different Out var would share X's memory.
#pragma once

#include "executor/kernel.h"

namespace fleet {

void RegisterCollectiveKernels(KernelTable& table);

}  // namespace fleet
