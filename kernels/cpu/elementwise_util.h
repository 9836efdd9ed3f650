// Shared pieces of the elementwise and unary CPU kernel files: 16-bit float (f16, bf16) <-> f32
// tensor conversion (their ops compute in f32), input dtype checks, and the registration functions
// of the files that the two groups are split into.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "executor/half.h"
#include "executor/kernel.h"
#include "ir/bfloat16.h"
#include "kernels/cpu/broadcast.h"

namespace fleet::cpu {

// A new f32 tensor with the values of the 16-bit float tensor `t` (f16 or bf16).
inline Tensor HalfToFloatTensor(const KernelContext& ctx, const Tensor& t) {
  Tensor out(DataType::kF32, t.shape());
  const uint16_t* src = t.data<uint16_t>();
  float* dst = out.data<float>();
  const bool brain = t.dtype() == DataType::kBF16;
  ctx.ParallelFor(t.numel(), kElementwiseGrain, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) dst[i] = brain ? BFloat16ToFloat(src[i]) : HalfToFloat(src[i]);
  });
  return out;
}

// A new tensor of the 16-bit float type `half` (f16 or bf16) with the values of the f32 tensor
// `t`, rounded to nearest even.
inline Tensor FloatToHalfTensor(const KernelContext& ctx, const Tensor& t,
                                DataType half = DataType::kF16) {
  Tensor out(half, t.shape());
  const float* src = t.data<float>();
  uint16_t* dst = out.data<uint16_t>();
  const bool brain = half == DataType::kBF16;
  ctx.ParallelFor(t.numel(), kElementwiseGrain, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) dst[i] = brain ? FloatToBFloat16(src[i]) : FloatToHalf(src[i]);
  });
  return out;
}

// INVALID_ARGUMENT unless input i has the same dtype as input 0 (ONNX's shared type T).
inline absl::Status CheckSameDtype(const KernelContext& ctx, int i) {
  const Tensor& a = ctx.input(0);
  const Tensor& b = ctx.input(i);
  if (a.dtype() == b.dtype()) return absl::OkStatus();
  return ctx.InvalidArgument(absl::StrCat("input ", i, " is ", b.TypeString(), "; expected dtype ",
                                          std::string(DataTypeName(a.dtype())), " like input 0 (",
                                          a.TypeString(), ")"));
}

// Files that the elementwise group is split into.
void RegisterVariadicKernels(KernelTable& table);  // Sum, Mean, Min, Max (elementwise_variadic.cc)
// Files that the unary group is split into.
void RegisterCastKernels(KernelTable& table);        // Cast, CastLike (cast.cc)
void RegisterActivationKernels(KernelTable& table);  // Relu ... HardSwish, Clip (activation.cc)

}  // namespace fleet::cpu
