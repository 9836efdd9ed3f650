// fuse-matmul-add: a pass plugin, and the worked example of docs/writing-a-pass.md.
//
// Fuses a MatMul followed by a bias Add into one Gemm:
//   %y = MatMul(A: %a, B: %w)        # %a f32[M,K], %w f32[K,N], %y read only by the Add
//   %z = Add(A: %y, B: %b)           # %b f32[N]; the Add may also be Add(%b, %y)
//     ==>
//   %z = Gemm(A: %a, B: %w, C: %b)   # and `var %y` is gone
//
// It fires only when Gemm computes exactly what the pair did: A is 2-D (Gemm has no batch
// dims), W is 2-D, the bias is 1-D with length N (known), and the MatMul's result has no other
// reader and is neither fetched nor persistable. Every other MatMul + Add is left alone and the
// reason noted (see it with --debug-pass=fuse-matmul-add). It rewrites each block on its own
// (RunOnBlock), so pairs inside sub-blocks are fused too.
//
// Built as a MODULE library against Fleet's public headers only; the loading tool provides
// Fleet's symbols. Loaded by `fleet-transpile --pass-plugin` and `fleet-opt --pass-plugin`.
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "passes/pass.h"
#include "passes/pattern.h"
#include "passes/plugin_api.h"

namespace {

using fleet::Block;
using fleet::Op;
using fleet::PassContext;
using fleet::Program;
using fleet::Var;

std::string ShapeString(const Var* v) {
  if (v == nullptr) return "undeclared";
  if (!v->shape) return "unknown rank";
  return absl::StrCat("[",
                      absl::StrJoin(*v->shape, ",",
                                    [](std::string* out, int64_t d) {
                                      absl::StrAppend(out,
                                                      d < 0 ? std::string("?") : std::to_string(d));
                                    }),
                      "]");
}

// "" when Gemm(a, w, bias) equals Add(MatMul(a, w), bias) in block `block`; otherwise why not.
std::string WhyNotFusable(const Program& program, int block, const std::string& a,
                          const std::string& w, const std::string& bias) {
  const Var* va = fleet::FindVisibleVar(program, block, a);
  const Var* vw = fleet::FindVisibleVar(program, block, w);
  const Var* vb = fleet::FindVisibleVar(program, block, bias);
  if (va == nullptr || !va->shape || va->shape->size() != 2) {
    return absl::StrCat("A '", a, "' has shape ", ShapeString(va),
                        "; expected rank 2 (Gemm has no batch dims)");
  }
  if (vw == nullptr || !vw->shape || vw->shape->size() != 2) {
    return absl::StrCat("B '", w, "' has shape ", ShapeString(vw), "; expected rank 2");
  }
  int64_t n = (*vw->shape)[1];
  if (n < 0) return absl::StrCat("B '", w, "' has an unknown column count");
  if (vb == nullptr || !vb->shape || vb->shape->size() != 1 || (*vb->shape)[0] != n) {
    return absl::StrCat("bias '", bias, "' has shape ", ShapeString(vb), "; expected [", n, "]");
  }
  return "";
}

class FuseMatMulAdd final : public fleet::Pass {
 public:
  std::string_view name() const override { return "fuse-matmul-add"; }
  std::string_view description() const override {
    return "fuses MatMul + Add(bias[N]) into Gemm when A is 2-D (example plugin)";
  }

  absl::StatusOr<bool> RunOnBlock(Program& program, int b, PassContext& ctx) override {
    Block& block = program.blocks[b];
    const fleet::OpPattern pattern =
        fleet::OpPattern("Add")
            .Bind("add")
            .Commutative()
            .Input(
                "A",
                fleet::OpPattern("MatMul").Bind("matmul").SingleUse().InputVar("A", "a").InputVar(
                    "B", "w"),
                "y")
            .InputVar("B", "bias");
    fleet::UseIndex uses(program, b);
    std::vector<int> erase;
    std::vector<std::string> dead_vars;
    for (int i = 0; i < static_cast<int>(block.ops.size()); ++i) {
      std::string why;
      std::optional<fleet::PatternMatch> m = fleet::MatchAt(block, uses, i, pattern, &why);
      if (!m) {
        // Only near misses are worth a note: an Add fed by a MatMul.
        if (!why.empty() && FedByMatMul(block, uses, i)) {
          ctx.Skip(block.ops[i], "not fused: " + why);
        }
        continue;
      }
      const Op& matmul = block.ops[m->ops.at("matmul")];
      std::string reason =
          WhyNotFusable(program, b, m->vars.at("a"), m->vars.at("w"), m->vars.at("bias"));
      if (!reason.empty()) {
        ctx.Skip(matmul, "not fused: " + reason);
        continue;
      }
      Op& add = block.ops[i];
      Op gemm;
      gemm.type = "Gemm";
      gemm.name = matmul.name.empty() ? add.name : matmul.name;
      gemm.inputs = {
          {"A", {m->vars.at("a")}}, {"B", {m->vars.at("w")}}, {"C", {m->vars.at("bias")}}};
      gemm.outputs = {{"Y", add.OutputVars()}};
      gemm.role = add.role;
      gemm.device = add.device;
      gemm.loc = matmul.loc;
      add = std::move(gemm);
      erase.push_back(m->ops.at("matmul"));
      dead_vars.push_back(m->vars.at("y"));
    }
    fleet::EraseOps(block, erase);
    for (const std::string& v : dead_vars) {
      int declared_in = fleet::DeclaringBlock(program, b, v);
      if (declared_in >= 0) program.blocks[declared_in].RemoveVar(v);
    }
    return !erase.empty();
  }

 private:
  static bool FedByMatMul(const Block& block, const fleet::UseIndex& uses, int index) {
    for (const std::string& in : block.ops[index].InputVars()) {
      int p = uses.ProducerBefore(in, index);
      if (p >= 0 && block.ops[p].type == "MatMul") return true;
    }
    return false;
  }
};

}  // namespace

extern "C" int fleet_register_passes(FleetPassRegistrar* registrar) {
  return fleet::AddPluginPass<FuseMatMulAdd>(registrar);
}
