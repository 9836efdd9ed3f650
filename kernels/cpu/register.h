// Adds Fleet's CPU kernels to a kernel table. Tools call this once at start-up.
#pragma once

#include <atomic>
#include <cstdint>

#include "executor/kernel.h"

namespace fleet {

void RegisterCpuKernels(KernelTable& table);

// Sets how many threads the CPU math library (OpenBLAS) may use for one GEMM. Call before
// running; it is process-wide.
void SetCpuMathThreads(int num_threads);

// Seeds the random ops that have no `seed` attribute (training-mode Dropout): the same seed and
// the same sequence of calls draw the same values. Call before running; it is process-wide.
// Executors whose ExecutionEnv holds a CpuRandomStreams draw from that instead.
void SetCpuRandomSeed(uint64_t seed);

// The random streams of one executor's unseeded random ops, installed in its ExecutionEnv
// (env.Set(std::make_shared<CpuRandomStreams>(seed))): ranks or workers running as threads of
// one process then each get their own reproducible draws, independent of the others' calls.
// Seeded like SetCpuRandomSeed. Thread-safe.
class CpuRandomStreams {
 public:
  explicit CpuRandomStreams(uint64_t seed);
  // The number of the next call's stream.
  uint64_t NextCall() { return next_call_.fetch_add(1, std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> next_call_;
};

}  // namespace fleet
