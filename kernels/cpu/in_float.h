// f16 and bf16 ops on the CPU through their f32 kernels, for mixed-precision programs (the amp
// pass puts GEMMs and convolutions in f16 or bf16) run on the CPU: each 16-bit input is widened
// to f32, the f32 kernel runs, and each f32 output is rounded to the inputs' 16-bit type, so the
// op computes in f32 and stores in 16 bits, as cuBLAS and cuDNN do with f32 accumulation. It is a
// correctness path, slower than the f32 kernel alone: the CPU has no f16 arithmetic of its own.
//
//   table.Add("MatMul", Device::kCpu, {DataType::kF16}, &InFloat<&MatMulKernel<float>>);
#pragma once

#include "absl/status/status.h"
#include "executor/kernel.h"

namespace fleet::cpu {

// Runs `f32_kernel` on ctx's tensors as described above; inputs of other dtypes (indices,
// shapes) pass through unchanged.
absl::Status RunInFloat(KernelContext& ctx, KernelFn f32_kernel);

template <KernelFn kF32Kernel>
absl::Status InFloat(KernelContext& ctx) {
  return RunInFloat(ctx, kF32Kernel);
}

}  // namespace fleet::cpu
