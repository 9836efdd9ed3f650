// ps-split: parameter-server training (--strategy ps). The parameters and the optimizer move to
// the servers; trainers run forward and backward, push the gradients and pull the parameters.
//
//   main, startup (single machine)
//     ==>  main     the trainer: Gathers of tables -> one fleet.ps_pull_sparse; no update ops;
//                   after backward, fleet.ps_push then fleet.ps_pull_dense (ps_trainer.cc)
//          startup  the step and learning rate, then fleet.ps_pull_dense of the parameters
//          pserver.<i>, pserver.<i>.startup   for each server: its dense blocks, every table,
//                   their state, and fleet.ps_serve over the update rule (ps_server.cc)
//
// A table is a trainable f32 [rows, width] parameter that forward reads only through Gather on
// axis 0 and whose gradient is sparse rows; its rows are sharded over all servers by id at run
// time. Every other trainable parameter is dense: cut along dim 0 into row blocks, each owned
// by the server a stable hash of its name picks (ps_layout.h). Both sides record the layout
// in the ps ops' attributes (ir/fleet_ps_ops.cc), so every program file runs on its own. sync,
// async and half_async give the same programs but for the `mode` attribute; geo keeps the
// trainer whole and has the servers add the changes it sends (ps_geo.cc). Runs after loss,
// autodiff, optimizer and startup; refuses clipping by the global norm, since no server sees every
// gradient.
#include <memory>

#include "absl/strings/str_cat.h"
#include "ir/status_macros.h"
#include "passes/builtin_passes.h"
#include "passes/distributed/ps_plan.h"
#include "passes/strategy.h"

namespace fleet {
namespace {

class PsSplitPass final : public Pass {
 public:
  std::string_view name() const override { return "ps-split"; }
  std::string_view description() const override {
    return "splits a training job into a parameter-server trainer and one program per server: "
           "tables and dense blocks with their optimizer move to the servers (a job pass, "
           "after optimizer and startup)";
  }

  absl::StatusOr<bool> RunOnJob(Job& job, PassContext& ctx) override {
    proto::PsConfig config;
    if (ctx.strategy() != nullptr) config = ctx.strategy()->ps();
    FLEET_ASSIGN_OR_RETURN(distributed::PsPlan plan, distributed::PlanPs(job, config, ctx));
    if (plan.mode == "geo") {
      distributed::PsPlan servers = plan;
      servers.rule = distributed::GeoServerRule(plan.rule);
      FLEET_RETURN_IF_ERROR(distributed::BuildPsServers(job, servers));
      FLEET_RETURN_IF_ERROR(distributed::BuildGeoTrainer(job, plan));
    } else {
      FLEET_RETURN_IF_ERROR(distributed::BuildPsServers(job, plan));
      FLEET_RETURN_IF_ERROR(distributed::BuildPsTrainer(job, plan));
    }
    ctx.Note(absl::StrCat(plan.tables.size(), " table(s), ", plan.dense.size(),
                          " dense parameter(s) in ", plan.blocks.size(), " block(s) over ",
                          plan.servers, " server(s), mode ", plan.mode));
    return true;
  }

  absl::StatusOr<bool> Run(Program&, PassContext&) override {
    return absl::FailedPreconditionError(
        "pass 'ps-split' writes the trainer and server programs of a job; run it over a job, "
        "not a single program");
  }
};

}  // namespace

std::unique_ptr<Pass> CreatePsSplitPass() { return std::make_unique<PsSplitPass>(); }

}  // namespace fleet
