// Runs a kernel templated over its element type for the f32 and f64 tensors it is registered
// for: Fn<float>::Run(ctx) or Fn<double>::Run(ctx), by the dtype of input 0.
#pragma once

#include "absl/strings/str_cat.h"
#include "executor/kernel.h"

namespace fleet::cpu {

template <template <typename> class Fn>
absl::Status RunForFloatType(KernelContext& ctx) {
  switch (ctx.input(0).dtype()) {
    case DataType::kF32:
      return Fn<float>::Run(ctx);
    case DataType::kF64:
      return Fn<double>::Run(ctx);
    default:
      return ctx.Unimplemented(
          absl::StrCat("input has type ", ctx.input(0).TypeString(), "; expected f32 or f64"));
  }
}

}  // namespace fleet::cpu
