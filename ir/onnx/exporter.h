// ONNX export: block 0 of a Program (and the sub-blocks its ops reference) back to an ONNX model
// (opset 17), for programs made of ONNX ops (an imported model, or a trained one whose training ops
// were stripped).
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "ir/program.h"
#include "onnx/onnx_pb.h"

namespace fleet {

// Feed vars become graph inputs, fetch vars graph outputs, persistable vars with values
// initializers, other typed vars value_info. A BlockRef attribute (If's branches, Loop's and
// Scan's body) becomes a GRAPH attribute holding that sub-block, written the same way; its
// outer-scope names stay references by name. Ops that are not ONNX ops (fleet.*) are refused
// with UNIMPLEMENTED naming the op.
absl::StatusOr<onnx::ModelProto> ExportOnnxModel(const Program& program);

// Exports and writes `path` (atomically: a temporary file, then rename).
absl::Status ExportOnnxFile(const Program& program, const std::string& path);

}  // namespace fleet
