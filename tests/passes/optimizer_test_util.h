// Helpers for the optimizer pass tests: a program with fed gradients, a strategy, and running
// a pipeline of passes with it.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "ir/program.h"
#include "passes/pass_manager.h"
#include "passes/registry.h"
#include "passes/strategy.pb.h"

namespace fleet {
namespace testing_util {

// Two parameters whose gradients are feeds.
constexpr char kTwoParams[] = R"(fleet.program v1 opset=17
block 0 {
  var %w : f32[3,2] persistable parameter trainable
  var %b : f32[2] persistable parameter trainable
  var %"w@GRAD" : f32[3,2] feed
  var %"b@GRAD" : f32[2] feed
}
)";

// Runs the comma-separated `pipeline` of built-in passes with `strategy` (may be null).
inline absl::StatusOr<bool> RunPasses(Program& program, const std::string& pipeline,
                                      const proto::DistributedStrategy* strategy) {
  PassManager pm;
  absl::Status added = pm.AddPipeline(pipeline, PassRegistry::WithBuiltins());
  if (!added.ok()) return added;
  PassContext ctx;
  if (strategy != nullptr) ctx.set_strategy(*strategy);
  return pm.Run(program, ctx);
}

// A single-machine strategy with this optimizer and learning rate.
inline proto::DistributedStrategy Strategy(const std::string& optimizer, double lr) {
  proto::DistributedStrategy s;
  s.set_mode(proto::DistributedStrategy::SINGLE);
  s.mutable_training()->set_optimizer(optimizer);
  s.mutable_training()->set_lr(lr);
  return s;
}

}  // namespace testing_util
}  // namespace fleet
