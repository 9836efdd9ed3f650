// Imports the GRAPH attribute of an If, Loop or Scan node as a sub-block.
//
//   %res = If(%cond) {then_branch = graph (...) { %t = Add(%x, %one); return %t }}
//   ==>  block 0: (outputs: %res) = If(cond: %cond) {else_branch = ^2, then_branch = ^1}
//        block 1 parent 0 { var %t fetch;  (C: %t) = Add(A: %x, B: %one) }
//
// The sub-block is a child of the block that holds the node. The subgraph's inputs become feed
// vars and its outputs fetch vars, both in the subgraph's order (the interface the executor's
// SubBlocks runs, executor/sub_block.h); names the subgraph takes from outer scopes stay as they
// are and resolve by name through the enclosing blocks, as in ONNX. An output that is not made
// by a node of the subgraph itself (an input passed through, an outer value, a repeated output)
// gets an Identity into a fresh fetch var, so that every result is written in the block.
// Subgraph initializers become persistable vars of the sub-block (their names must be unique
// across the model, since Program::values is keyed by name).
#include "absl/strings/str_cat.h"
#include "ir/onnx/graph_importer.h"
#include "ir/status_macros.h"

namespace fleet {

absl::StatusOr<int> GraphImporter::ImportSubgraph(const onnx::GraphProto& graph,
                                                  const std::string& node) {
  const std::string where = absl::StrCat("node '", node, "': subgraph '", graph.name(), "': ");
  if (graph.sparse_initializer_size() > 0) {
    return Fail(absl::StatusCode::kUnimplemented,
                absl::StrCat(where, "sparse initializers are unsupported"));
  }
  const int parent = block_;
  const auto saved_types = types_;
  const auto saved_defined = defined_;
  block_ = program_.AddBlock(parent);
  for (const auto& v : graph.input()) types_[v.name()] = &v.type();
  for (const auto& v : graph.value_info()) types_[v.name()] = &v.type();
  for (const auto& v : graph.output()) types_[v.name()] = &v.type();

  for (const onnx::TensorProto& original : graph.initializer()) {
    onnx::TensorProto init = original;
    FLEET_RETURN_IF_ERROR(DeclareInitializer(init));
  }
  for (const auto& in : graph.input()) {
    if (block().FindVar(in.name()) != nullptr) {
      return Fail(absl::StatusCode::kInvalidArgument,
                  absl::StrCat(where, "input '", in.name(), "' is declared twice"));
    }
    FLEET_RETURN_IF_ERROR(DeclareValue(in.name(), kVarFeed, absl::StrCat(where, "input: ")));
    defined_.insert(in.name());
  }
  // Results in the subgraph's order: declared before the nodes that write them.
  std::set<std::string> produced;
  for (const auto& n : graph.node()) produced.insert(n.output().begin(), n.output().end());
  std::vector<std::pair<std::string, std::string>> copies;  // (value, fresh result var)
  for (const auto& out : graph.output()) {
    const std::string& name = out.name();
    if (produced.count(name) && block().FindVar(name) == nullptr) {
      FLEET_RETURN_IF_ERROR(DeclareValue(name, kVarFetch, absl::StrCat(where, "output: ")));
      continue;
    }
    if (!defined_.count(name) && FindVisible(name) == nullptr) {
      return Fail(absl::StatusCode::kInvalidArgument,
                  absl::StrCat(where, "output '", name, "' is not produced by any node"));
    }
    std::string fresh = absl::StrCat(name, ".out");
    for (int i = 1; DeclaredAnywhere(fresh) || types_.count(fresh); ++i) {
      fresh = absl::StrCat(name, ".out", i);
    }
    types_[fresh] = &out.type();
    FLEET_RETURN_IF_ERROR(DeclareValue(fresh, kVarFetch, absl::StrCat(where, "output: ")));
    copies.emplace_back(name, fresh);
  }
  for (int i = 0; i < graph.node_size(); ++i) {
    FLEET_RETURN_IF_ERROR(ImportNode(graph.node(i), i));
  }
  for (const auto& [value, fresh] : copies) {
    Op copy;
    copy.type = "Identity";
    copy.name = absl::StrCat(node, ".", fresh);
    op_names_.insert(copy.name);
    copy.loc.file = source_;
    copy.loc.node = copy.name;
    copy.inputs.push_back(Slot{"input", {value}});
    copy.outputs.push_back(Slot{"output", {fresh}});
    block().ops.push_back(std::move(copy));
  }
  const int index = block_;
  block_ = parent;
  types_ = saved_types;
  defined_ = saved_defined;
  return index;
}

}  // namespace fleet
