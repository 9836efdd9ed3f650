// Where the executor waits for ops in flight, planned once when a block is prepared.
//
// An op whose kernel is declared async (KernelTraits::async) may leave its outputs pending. The
// executor then waits for it
//   - before the first later op that reads one of its outputs (later readers need no wait);
//   - before an op that writes in place into memory the pending op reads or writes (through
//     declared in-place and alias pairs), even the pending op of the previous run;
//   - at the end of the run, when one of its outputs is fetched or persistable.
// Synchronous programs get empty plans: the run loop then costs nothing extra.
#pragma once

#include <vector>

#include "executor/kernel.h"

namespace fleet {

// One prepared op's slots (positional, -1 = absent) and its kernel's declarations.
struct OpSlots {
  const std::vector<int>* inputs = nullptr;
  const std::vector<int>* outputs = nullptr;
  const KernelTraits* traits = nullptr;
};

struct WaitPlan {
  // Per op: the async ops (indices) whose pending outputs must be complete before it runs.
  std::vector<std::vector<int>> wait_before;
  // Async ops with an output that outlives the run (fetched or persistable).
  std::vector<int> wait_at_end;
};

// `outlives_run[s]`: slot s is written back to the scope at the end of a run.
WaitPlan PlanWaits(const std::vector<OpSlots>& ops, const std::vector<bool>& outlives_run);

}  // namespace fleet
