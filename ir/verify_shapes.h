// Static shape checks of a Program, run by Verify (ir/verify.h) after the structural checks: for
// every op whose schema has an inference function (ir/shape_infer.h), the dtype and shape its
// inputs give each output must agree with the output var's declaration. Unknown dims and ranks
// agree with anything, so a program that declares less than inference knows still verifies.
#pragma once

#include <cstdint>

#include "absl/status/status.h"
#include "ir/program.h"

namespace fleet {

// How much of a program's outputs inference covers (for tests and reports).
struct ShapeCoverage {
  int64_t outputs = 0;     // output vars written by ops
  int64_t inferred = 0;    // ... whose op has an inference function
  int64_t known_rank = 0;  // ... where inference gives the rank
  int64_t as_precise = 0;  // ... where inference knows every dim the declaration knows
};

// INVALID_ARGUMENT naming the op, the output and both types when a declared output disagrees with
// inference, e.g.
//   prog.txt:9:3: op 'fc2' (MatMul): output 'Y' ('y') is declared f32[4,20]; its inputs give
//   f32[4,10]
// or when inference rejects the op's inputs (MatMul inner dims 8 vs 9). Assumes the structural
// checks passed (every var an op names is declared). Fills `coverage` when not null.
absl::Status VerifyShapes(const Program& program, ShapeCoverage* coverage = nullptr);

// Fills in what the declarations of `op`'s outputs leave unknown (an undefined dtype, an unknown
// rank or dim) from inference over its inputs; for passes that declare vars before they know
// their shapes. `op` must be in block `block` of `program`. Errors as VerifyShapes.
absl::Status RefineOutputTypes(Program& program, int block, const Op& op);

}  // namespace fleet
