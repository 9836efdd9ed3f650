// How a parameter server applies an optimizer update to a dense block or to a table's touched
// rows. The serve kernel (runtime/ps/kernels.cc) implements it by running the program's update
// block (ir/fleet_ps_ops.cc, fleet.ps_serve), so the server uses the same optimizer kernels as
// single-machine training; tests can implement it with a closed form.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "executor/tensor.h"

namespace fleet::ps {

// The tensors of one update. `param` and each rowwise state hold the same rows (a whole block,
// or the touched rows of a table gathered into [n, width]); whole states (Adam's beta powers)
// are the block's or table's own.
struct UpdateTensors {
  Tensor param;
  Tensor grad;
  std::vector<Tensor> states;  // in the update rule's order
};

class UpdateRule {
 public:
  virtual ~UpdateRule() = default;
  // Applies one update. `step` counts the updates this block or table had before (the learning
  // rate schedule's step). On return `t.param` and `t.states` hold the new values (the same
  // buffers when the rule works in place, else new tensors). Thread-safe: servers call it from
  // several request threads.
  virtual absl::Status Apply(int64_t step, UpdateTensors& t) = 0;
};

}  // namespace fleet::ps
