// DistributedOptimizer: the optimizer config joins the strategy, the strategy picks the pipeline,
// the PassManager runs it over the model, and every program records the strategy.
#include "passes/distributed_optimizer.h"

#include <string>
#include <string_view>
#include <utility>

#include "absl/strings/str_cat.h"
#include "google/protobuf/util/message_differencer.h"
#include "ir/status_macros.h"
#include "passes/pass_manager.h"
#include "passes/registry.h"
#include "passes/strategy.h"

namespace fleet {
namespace {

// Blames a training field on the optimizer config, where the caller wrote it, and any other
// field on the strategy.
std::string FieldOf(std::string_view field) {
  constexpr std::string_view kTraining = "training.";
  if (field.substr(0, kTraining.size()) == kTraining) {
    return absl::StrCat("optimizer config field '", std::string(field.substr(kTraining.size())),
                        "'");
  }
  return absl::StrCat("strategy field '", std::string(field), "'");
}

}  // namespace

DistributedOptimizer::DistributedOptimizer(proto::TrainingConfig optimizer,
                                           proto::DistributedStrategy strategy)
    : strategy_(std::move(strategy)) {
  if (strategy_.has_training() &&
      !google::protobuf::util::MessageDifferencer::Equals(strategy_.training(), optimizer)) {
    conflicting_training_ = strategy_.training();
  }
  *strategy_.mutable_training() = std::move(optimizer);
}

absl::StatusOr<Job> DistributedOptimizer::Minimize(Job job) const {
  if (conflicting_training_.has_value()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "DistributedOptimizer: the strategy's training field {",
        conflicting_training_->ShortDebugString(), "} differs from the optimizer config {",
        strategy_.training().ShortDebugString(),
        "} (hint: leave DistributedStrategy.training unset; the optimizer config says how to "
        "train)"));
  }
  FLEET_RETURN_IF_ERROR(ValidateStrategy(strategy_, FieldOf));
  FLEET_ASSIGN_OR_RETURN(std::string pipeline, StrategyPipeline(strategy_));
  PassManager passes;
  FLEET_RETURN_IF_ERROR(passes.AddPipeline(pipeline, PassRegistry::WithBuiltins()));
  PassContext context;
  context.set_strategy(strategy_);
  FLEET_RETURN_IF_ERROR(passes.Run(job, context).status());
  RecordStrategy(strategy_, job);
  return job;
}

absl::StatusOr<Job> DistributedOptimizer::Minimize(Program model) const {
  return Minimize(Job(std::move(model)));
}

}  // namespace fleet
