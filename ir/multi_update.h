// How fleet.multi_update (ir/fleet_ops.cc) holds the operands of one optimizer update op type,
// for the fuse-optimizer pass that makes it and the kernels that run it.
//
// A single update op takes Param (input 0), Grad (input 1), LearningRate and its state inputs
// at the positions below, and gives ParamOut then each state's output, in the state's order.
// fleet.multi_update of n parameters with s states each takes, flat:
//   inputs   Param[0..n), State[i * s + k] at n + i * s + k, Grad[i] at n + n * s + i,
//            LearningRate last (n * (s + 2))
//   outputs  ParamOut[i] at i, StateOut[i * s + k] at n + i * s + k
// so input j and output j are one buffer for every j < n * (s + 1).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace fleet {

struct UpdateLayout {
  const char* type = "";          // "fleet.adam"
  int num_inputs = 0;             // of the single op
  int lr_input = 0;               // its LearningRate
  std::vector<int> state_inputs;  // its state inputs, in output order
  // The update's attributes (the multi op carries those given, the kernel the defaults).
  std::vector<const char*> attrs;
};

// The layout of `type`, or null when it is not an optimizer update fleet.multi_update takes.
const UpdateLayout* FindUpdateLayout(std::string_view type);

// "fleet.sgd, fleet.momentum, ...", for messages.
std::string UpdateTypeNames();

}  // namespace fleet
