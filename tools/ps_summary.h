// The parameter-server part of `fleet-inspect --summary`: what a ps job's programs record about
// the layout (ir/fleet_ps_ops.cc), in words, so that the job can be read without decoding the
// ops' attribute lists.
//
//   trainer:  parameter server (mode sync): 11 dense block(s) on server(s) 0, 1, pulled after
//             each step
//               fc1.weight f32[273,400]: block 0 rows 0-136 on server 1, block 1 rows ...
//               push after backward: 8 dense gradient(s) and 26 looked-up rows' gradient(s) ...
//               26 lookup(s), pulled together before forward:
//                 C1 -> embedding.C1: table 0, width 10
//   pserver:  parameter server (mode sync): serves 6 dense block(s) and 26 table(s); ...
//               update (block 1): fleet.lr_schedule {...}; fleet.adam {beta1 = 0.9, ...}
//               states: moment1 (rowwise, starts at 0), ..., beta1pow (whole, starts at 0.9)
//               block 1 fc1.weight.block1 f32[136,400]
//               table 0 embedding.C1.weight f32[100,10]
//
// Prints nothing for a program without ps ops. Thread-safe (no shared state).
#pragma once

#include <ostream>

#include "ir/program.h"

namespace fleet {

void PrintPsSummary(const Program& program, std::ostream& out);

}  // namespace fleet
