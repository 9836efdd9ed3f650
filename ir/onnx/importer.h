// ONNX import: an ONNX model file becomes a Fleet Program.
//
// The model is parsed, checked with ONNX's checker, shape-inferred, and turned into block 0:
// graph inputs become feed vars, initializers persistable vars with their values kept in
// Program::values, graph outputs fetch vars, and nodes ops whose slots follow ONNX's opset-17
// schema. The GRAPH attributes of If, Loop and Scan become sub-blocks referenced by BlockRef
// attributes; a subgraph's inputs and outputs are the block's feed and fetch vars, and its
// outer-scope names resolve by name (ir/onnx/subgraph_importer.cc). Opsets 1 to 17 are read: forms
// that changed are rewritten (e.g. Squeeze's `axes` attribute becomes an input), and legacy
// attributes with no opset-17 meaning are refused. Anything Fleet cannot run is refused here, with
// a message that says "unsupported" and names the node, op type and opset.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "ir/program.h"

namespace onnx {
class ModelProto;
}

namespace fleet {

struct OnnxImportOptions {
  bool run_checker = true;  // run onnx::checker::check_model first
};

// Reads and imports `path`. External data files are looked up next to it.
absl::StatusOr<Program> ImportOnnxFile(const std::string& path,
                                       const OnnxImportOptions& options = {});

// Imports an already parsed model; `source` names it in messages and `base_dir` is the folder
// external data must stay inside (empty: external data is refused).
absl::StatusOr<Program> ImportOnnxModel(onnx::ModelProto model, const std::string& source,
                                        const std::string& base_dir,
                                        const OnnxImportOptions& options = {});

}  // namespace fleet
