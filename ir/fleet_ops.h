// Schemas of Fleet's own ops (`fleet.*`): the dense optimizer updates for now.
#pragma once

#include <vector>

#include "ir/op_schema.h"

namespace fleet {

// The schemas of every built-in `fleet.*` op, listed explicitly (no static
// registrars). The schema registry adds them when it is first built; plugins
// use RegisterOpSchema instead.
std::vector<OpSchema> FleetOpSchemas();

// Per-family parts of FleetOpSchemas (ir/fleet_grad_ops_<family>.cc).
std::vector<OpSchema> ShapeGradOpSchemas();  // shape and indexing gradients
std::vector<OpSchema> LossGradOpSchemas();   // softmax and classification-loss gradients

}  // namespace fleet
