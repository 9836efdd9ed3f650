// Schemas of Fleet's own ops (`fleet.*`): autodiff helpers, optimizer updates, training
// bookkeeping (fill, step counter, LR schedule, gradient clipping).
#pragma once

#include <cstdint>
#include <vector>

#include "ir/op_schema.h"

namespace fleet {

// The schemas of every built-in `fleet.*` op, listed explicitly (no static
// registrars). The schema registry adds them when it is first built; plugins
// use RegisterOpSchema instead.
std::vector<OpSchema> FleetOpSchemas();

// The gradient ops of the neural-network layers and fleet.batch_norm_train
// (ir/fleet_grad_ops_nn.cc); part of FleetOpSchemas.
std::vector<OpSchema> NnGradOpSchemas();
// The gradient ops of the elementwise, activation and reduction families
// (ir/fleet_grad_ops_elementwise.cc); part of FleetOpSchemas().
std::vector<OpSchema> ElementwiseGradOpSchemas();
// The gradient ops of the shape and indexing ops (ir/fleet_grad_ops_shape.cc) and of softmax
// and the classification losses (ir/fleet_grad_ops_loss.cc); part of FleetOpSchemas().
std::vector<OpSchema> ShapeGradOpSchemas();
std::vector<OpSchema> LossGradOpSchemas();
// fleet.conditional_block (ir/fleet_control_ops.cc); part of FleetOpSchemas().
std::vector<OpSchema> ControlFlowOpSchemas();
// fleet.allreduce, fleet.broadcast, fleet.reduce, fleet.allgather_rows, fleet.is_rank
// (ir/fleet_comm_ops.cc); part of
// FleetOpSchemas().
std::vector<OpSchema> CommunicationOpSchemas();
// fleet.ps_pull_sparse, fleet.ps_push, fleet.ps_pull_dense, fleet.ps_serve (ir/fleet_ps_ops.cc);
// part of FleetOpSchemas().
std::vector<OpSchema> ParameterServerOpSchemas();
// fleet.check_finite_and_unscale, fleet.update_loss_scaling: mixed precision's loss scaling
// (ir/fleet_amp_ops.cc); part of FleetOpSchemas().
std::vector<OpSchema> AmpOpSchemas();

// The name of the casts the amp pass puts around the GEMMs and convolutions it runs in f16
// (passes/training/amp.cc); an export leaves them out, so the exported model computes in f32.
inline constexpr char kAmpCastOpName[] = "amp.cast";
// The amp pass's persistable loss scale (f32[]) and count of skipped steps (i64[]), which
// fleet-run reports.
inline constexpr char kAmpLossScaleVar[] = "amp@loss_scale";
inline constexpr char kAmpSkippedStepsVar[] = "amp@skipped_steps";

// fleet.ps_pull_dense's default `pull_warmup`: how many first sends pull after each when pulls
// are asked for every few sends. Between pulls a worker computes every gradient on the same
// parameters while the servers apply all workers' sends, and early in training, where gradients
// are largest, that staleness can make plain SGD diverge: 4 of 15 runs of bench/ps_bench.py's
// CTR-DNN at lr 0.1 with pulls every 4 sends reached a NaN loss within 50 steps, none of 22
// with this warm-up.
inline constexpr int64_t kDefaultDensePullWarmup = 50;

}  // namespace fleet
