// The graph importer behind ImportOnnxModel (ir/onnx/importer.cc): builds a Program from a
// checked, shape-inferred ONNX graph, node by node. The main graph becomes block 0; the GRAPH
// attributes of If, Loop and Scan become sub-blocks (ir/onnx/subgraph_importer.cc). Internal to
// ir/onnx.
#pragma once

#include <map>
#include <set>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "ir/program.h"
#include "onnx/onnx_pb.h"

namespace fleet {

// Builds a Program from an ONNX graph, node by node. Not reusable: one Import per object.
class GraphImporter {
 public:
  GraphImporter(const std::string& source, const std::string& base_dir, int opset)
      : source_(source), base_dir_(base_dir), opset_(opset) {}

  absl::StatusOr<Program> Import(onnx::ModelProto& model);

 private:
  absl::Status Fail(absl::StatusCode code, const std::string& message) const {
    return absl::Status(code, absl::StrCat(source_, ": ", message));
  }
  absl::Status NodeFail(absl::StatusCode code, const onnx::NodeProto& node, const std::string& name,
                        const std::string& message) const {
    return absl::Status(code, absl::StrCat(source_, ": node '", name, "' (", node.op_type(),
                                           ", opset ", opset_, "): ", message));
  }

  absl::StatusOr<Var> VarFromType(const std::string& name, const onnx::TypeProto* type) const;
  // Declares `name` in the current block (or adds `flags` to its declaration there).
  absl::Status DeclareValue(const std::string& name, uint32_t flags, const std::string& user);
  // Declares an initializer of the current graph as a persistable var with its value.
  absl::Status DeclareInitializer(onnx::TensorProto& init);
  absl::Status ImportNode(const onnx::NodeProto& original, int index);
  // Imports a GRAPH attribute as a new child of the current block; returns its index
  // (ir/onnx/subgraph_importer.cc). `node` names the owner in messages.
  absl::StatusOr<int> ImportSubgraph(const onnx::GraphProto& graph, const std::string& node);
  std::string AddConstant(const std::string& hint, TensorValue value);
  // The var `name` in the current block or an enclosing one, or nullptr.
  const Var* FindVisible(const std::string& name) const;
  bool DeclaredAnywhere(const std::string& name) const;
  int RankOf(const std::string& name) const;
  Block& block() { return program_.blocks[block_]; }

  std::string source_;
  std::string base_dir_;
  int opset_;
  Program program_;
  int block_ = 0;  // the block being filled: 0, or the sub-block of a GRAPH attribute
  // Per graph scope (a subgraph adds to its parent's and restores them when done):
  std::map<std::string, const onnx::TypeProto*> types_;
  std::set<std::string> defined_;
  std::set<std::string> op_names_;
};

}  // namespace fleet
