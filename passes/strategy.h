// The DistributedStrategy (passes/strategy.proto): reading it from text, checking its values,
// naming its enums the way the CLI spells them, the pipeline it picks, and recording it in the
// program it produced.
//
//   FLEET_ASSIGN_OR_RETURN(proto::DistributedStrategy s, ReadStrategyFile("s.pbtxt"));
//   s.mutable_training()->set_label("y");                  // a flag overrides the file
//   FLEET_RETURN_IF_ERROR(ValidateStrategy(s, where));
//   FLEET_ASSIGN_OR_RETURN(std::string pipeline, StrategyPipeline(s));   // "loss,autodiff,.."
//   ...run the pipeline over the job with ctx.set_strategy(s)...
//   RecordStrategy(s, job.main());   // meta.strategy = "single", meta.extra["strategy"] = text
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "ir/job.h"
#include "ir/program.h"
#include "passes/strategy.pb.h"

namespace fleet {

// Parses a strategy in protobuf text format. Errors name `file` and the 1-based line and column:
//   "s.pbtxt:3:9: error: Unknown enumeration value of \"FOO\" for field \"loss\"."
// Values are checked too (ValidateStrategy), naming the line of the offending field.
absl::StatusOr<proto::DistributedStrategy> ParseStrategyText(const std::string& text,
                                                             const std::string& file);
// Reads and parses a whole file; NOT_FOUND when it cannot be opened.
absl::StatusOr<proto::DistributedStrategy> ReadStrategyFile(const std::string& path);

// The CLI spellings: "single", "ps", "collective", "localsgd"; "softmax_ce", "sigmoid_bce",
// "mse". Parsing an unknown name is INVALID_ARGUMENT listing the known ones.
std::string ModeName(proto::DistributedStrategy::Mode mode);
absl::StatusOr<proto::DistributedStrategy::Mode> ParseModeName(std::string_view name);
std::string LossKindName(proto::TrainingConfig::LossKind kind);
absl::StatusOr<proto::TrainingConfig::LossKind> ParseLossKindName(std::string_view name);

// "constant", "cosine", "linear", "exponential", "step" (training.lr_schedule.decay).
std::string DecayName(proto::LrSchedule::Decay decay);
absl::StatusOr<proto::LrSchedule::Decay> ParseDecayName(std::string_view name);

// "sync", "async", "half_async", "geo" (ps.sync_mode).
std::string SyncModeName(proto::PsConfig::SyncMode mode);
absl::StatusOr<proto::PsConfig::SyncMode> ParseSyncModeName(std::string_view name);

// Optimizer names the optimizer pass will accept.
bool IsKnownOptimizer(std::string_view name);

// Checks field values the message's types cannot: a known optimizer, a finite learning rate
// >= 0, non-empty names where a name is given, hyper-parameters in range and used by the
// optimizer (momentum with adam is an error), a schedule whose decay has what it needs; each
// mode's settings only with that mode (a `ps` message needs mode PS: the error blames field
// "ps"); for PS, servers >= 1, counts >= 0, geo_k_steps only with GEO, a valid row_init
// (ir/ps_row_init.h) and no clipping by the global norm. `where` maps a field path
// ("training.lr") to the message prefix that locates it (a flag "--lr", or "s.pbtxt:4:3"); null
// means "strategy field 'training.lr'".
using StrategyFieldLocator = std::function<std::string(std::string_view field)>;
absl::Status ValidateStrategy(const proto::DistributedStrategy& strategy,
                              const StrategyFieldLocator& where = nullptr);

// The passes the strategy's mode runs, comma-separated: "loss,autodiff,optimizer,startup" for
// single (the startup pass adds the job's startup program), then "allreduce" (collective),
// "localsgd" or "ps-split" (ps).
// UNIMPLEMENTED for a mode value this build does not know.
absl::StatusOr<std::string> StrategyPipeline(const proto::DistributedStrategy& strategy);

// One-line protobuf text form: `mode: SINGLE training { label: "label" loss: SOFTMAX_CE }`.
std::string StrategyToText(const proto::DistributedStrategy& strategy);

// Records `strategy` in `program`: meta.strategy = ModeName, meta.extra["strategy"] = text form.
void RecordStrategy(const proto::DistributedStrategy& strategy, Program& program);
// Records it in every program of `job`, so each program file says what made it.
void RecordStrategy(const proto::DistributedStrategy& strategy, Job& job);
// The strategy recorded in `program`, or nullopt when none; INVALID_ARGUMENT when the record
// does not parse.
absl::StatusOr<std::optional<proto::DistributedStrategy>> RecordedStrategy(const Program& program);

}  // namespace fleet
