// What the Cast kernels of every device share.
#pragma once

#include "absl/status/statusor.h"
#include "executor/kernel.h"

namespace fleet::cpu {

// Cast's target type: its `to` attribute (an ONNX TensorProto type), INVALID_ARGUMENT when it
// is missing and UNIMPLEMENTED naming the ONNX type when Fleet has no such type.
absl::StatusOr<DataType> CastTarget(const KernelContext& ctx);

}  // namespace fleet::cpu
