#include "ir/verify_shapes.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "ir/shape_infer.h"
#include "ir/status_macros.h"

namespace fleet {
namespace {

// Whether `inferred` knows every dim `declared` knows.
bool AsPrecise(const TensorType& inferred, const Var& declared) {
  if (!declared.shape) return true;
  if (!inferred.shape) return false;
  for (size_t i = 0; i < declared.shape->size(); ++i) {
    if ((*declared.shape)[i] >= 0 && (*inferred.shape)[i] < 0) return false;
  }
  return true;
}

absl::Status Mismatch(const Program& program, const Op& op, const InferContext::Result& r,
                      const Var& declared) {
  return absl::InvalidArgumentError(absl::StrCat(
      DescribeOpIn(program, op), ": output '", *r.slot, "' ('", *r.var, "') is declared ",
      TypeString(TensorType::Of(declared)), "; its inputs give ", TypeString(*r.type)));
}

}  // namespace

absl::Status VerifyShapes(const Program& program, ShapeCoverage* coverage) {
  for (const Block& block : program.blocks) {
    InferScope scope(program, block);
    for (const Op& op : block.ops) {
      FLEET_ASSIGN_OR_RETURN(std::vector<InferContext::Result> results, InferOp(scope, op));
      scope.NoteOp(op);
      if (coverage != nullptr) {
        for (const Slot& s : op.outputs) {
          for (const std::string& v : s.vars) coverage->outputs += v.empty() ? 0 : 1;
        }
      }
      for (const InferContext::Result& r : results) {
        const Var* declared = scope.FindVar(*r.var);
        if (declared == nullptr) continue;  // the structural checks report it
        if (coverage != nullptr) {
          ++coverage->inferred;
          coverage->known_rank += r.type && r.type->shape ? 1 : 0;
          coverage->as_precise += r.type && AsPrecise(*r.type, *declared) ? 1 : 0;
        }
        if (r.type && !Compatible(TensorType::Of(*declared), *r.type)) {
          return Mismatch(program, op, r, *declared);
        }
      }
    }
  }
  return absl::OkStatus();
}

absl::Status RefineOutputTypes(Program& program, int block, const Op& op) {
  InferScope scope(program, program.blocks[block]);
  // Constant inputs written by earlier Constant ops of the block.
  for (const Op& earlier : program.blocks[block].ops) {
    if (&earlier == &op) break;
    scope.NoteOp(earlier);
  }
  FLEET_ASSIGN_OR_RETURN(std::vector<InferContext::Result> results, InferOp(scope, op));
  for (const InferContext::Result& r : results) {
    if (!r.type) continue;
    Var* var = nullptr;
    for (int b = block; b >= 0 && var == nullptr; b = program.blocks[b].parent()) {
      var = program.blocks[b].FindVar(*r.var);
    }
    if (var == nullptr) continue;
    if (!Compatible(TensorType::Of(*var), *r.type)) return Mismatch(program, op, r, *var);
    if (var->dtype == DataType::kUndefined) var->dtype = r.type->dtype;
    if (!var->shape) {
      var->shape = r.type->shape;
    } else if (r.type->shape) {
      for (size_t i = 0; i < var->shape->size(); ++i) {
        if ((*var->shape)[i] < 0) (*var->shape)[i] = (*r.type->shape)[i];
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace fleet
