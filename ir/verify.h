// Structural checks of a Program: the invariants every pass may assume and must keep.
#pragma once

#include "absl/status/status.h"
#include "ir/program.h"

namespace fleet {

// Checks that: blocks are numbered in order with valid parents; every op type has a schema; slot
// names, order and arity match the schema; attributes are known, of the right type, and required
// ones present; block references are valid; an op's device, when set, parses (ir/device.h); every
// input var is declared and written (by an earlier op, a feed, a persistable var or an initial
// value) before it is read; inputs sharing a type group have one dtype; each op's declared output
// types agree with what shape inference gives from its inputs (ir/verify_shapes.h); in a training
// program every op has a role, and (parameter, gradient) pairs and training facts name declared
// vars (verify_roles.h). Returns the first violation, naming the op and its origin.
absl::Status Verify(const Program& program);

}  // namespace fleet
