// DistributedStrategy: text parsing with file:line errors, value checks, CLI names, the
// pipeline a mode runs, and the record kept in the program (passes/strategy.h).
#include "passes/strategy.h"

#include <cmath>
#include <fstream>
#include <sstream>
#include <tuple>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "google/protobuf/text_format.h"
#include "ir/proto_text.h"
#include "ir/ps_row_init.h"
#include "ir/status_macros.h"

namespace fleet {
namespace {

using proto::DistributedStrategy;
using proto::TrainingConfig;

constexpr char kRecordKey[] = "strategy";

struct ModeEntry {
  DistributedStrategy::Mode mode;
  const char* name;
};
constexpr ModeEntry kModes[] = {{DistributedStrategy::SINGLE, "single"},
                                {DistributedStrategy::PS, "ps"},
                                {DistributedStrategy::COLLECTIVE, "collective"},
                                {DistributedStrategy::LOCALSGD, "localsgd"}};

struct LossEntry {
  TrainingConfig::LossKind kind;
  const char* name;
};
constexpr LossEntry kLosses[] = {{TrainingConfig::SOFTMAX_CE, "softmax_ce"},
                                 {TrainingConfig::SIGMOID_BCE, "sigmoid_bce"},
                                 {TrainingConfig::MSE, "mse"}};

struct SyncModeEntry {
  proto::PsConfig::SyncMode mode;
  const char* name;
};
constexpr SyncModeEntry kSyncModes[] = {{proto::PsConfig::SYNC, "sync"},
                                        {proto::PsConfig::ASYNC, "async"},
                                        {proto::PsConfig::HALF_ASYNC, "half_async"},
                                        {proto::PsConfig::GEO, "geo"}};

constexpr const char* kOptimizers[] = {"sgd", "momentum", "adam", "adamw", "adagrad"};

struct DecayEntry {
  proto::LrSchedule::Decay decay;
  const char* name;
};
constexpr DecayEntry kDecays[] = {{proto::LrSchedule::CONSTANT, "constant"},
                                  {proto::LrSchedule::COSINE, "cosine"},
                                  {proto::LrSchedule::LINEAR, "linear"},
                                  {proto::LrSchedule::EXPONENTIAL, "exponential"},
                                  {proto::LrSchedule::STEP, "step"}};

// A hyper-parameter's value is out of range: "<where>: momentum -1 is invalid; expected ...".
absl::Status BadValue(const std::string& where, const char* what, double value,
                      const char* expected) {
  return absl::InvalidArgumentError(
      absl::StrCat(where, ": ", what, " ", value, " is invalid; expected ", expected));
}

// A hyper-parameter the chosen optimizer has no use for.
absl::Status NotFor(const std::string& where, const char* what, const std::string& optimizer,
                    const char* used_by) {
  return absl::InvalidArgumentError(absl::StrCat(where, ": optimizer '", optimizer, "' has no ",
                                                 what, "; it applies to ", used_by));
}

// The parameter-server settings: only with mode PS, and then complete and in range.
absl::Status ValidatePsConfig(const DistributedStrategy& strategy,
                              const std::function<std::string(std::string_view)>& at) {
  const proto::PsConfig& ps = strategy.ps();
  if (strategy.mode() != DistributedStrategy::PS) {
    if (!strategy.has_ps()) return absl::OkStatus();
    return absl::InvalidArgumentError(absl::StrCat(
        at("ps"), ": parameter-server settings need the ps strategy (--strategy ps); got '",
        ModeName(strategy.mode()), "'"));
  }
  if (ps.servers() < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        at("ps.servers"), ": the ps strategy needs the number of parameter servers; got ",
        ps.servers(), " (hint: --servers N with N >= 1, ps.servers in a strategy file)"));
  }
  constexpr char kZeroIsDefault[] = "a number >= 0 (0: default)";
  for (const auto& [value, field, what, expected] :
       {std::make_tuple(int64_t{ps.workers()}, "ps.workers", "worker count", kZeroIsDefault),
        std::make_tuple(ps.min_block_size(), "ps.min_block_size", "minimum block size",
                        kZeroIsDefault),
        std::make_tuple(ps.geo_k_steps(), "ps.geo_k_steps", "geo k steps", kZeroIsDefault),
        std::make_tuple(ps.dense_pull_every(), "ps.dense_pull_every", "dense pull interval",
                        kZeroIsDefault),
        // Unset is the default; 0 turns the warm-up off.
        std::make_tuple(ps.dense_pull_warmup(), "ps.dense_pull_warmup", "dense pull warm-up",
                        "a number >= 0 (0: no warm-up)")}) {
    if (value < 0) return BadValue(at(field), what, static_cast<double>(value), expected);
  }
  if (ps.geo_k_steps() > 0 && ps.sync_mode() != proto::PsConfig::GEO) {
    return absl::InvalidArgumentError(absl::StrCat(at("ps.geo_k_steps"),
                                                   ": geo k steps need sync mode geo "
                                                   "(--sync-mode geo); got '",
                                                   SyncModeName(ps.sync_mode()), "'"));
  }
  if (ps.dense_pull_every() > 1 && ps.sync_mode() != proto::PsConfig::ASYNC) {
    return absl::InvalidArgumentError(absl::StrCat(
        at("ps.dense_pull_every"),
        ": pulling the dense parameters every few sends needs sync mode async (--sync-mode "
        "async); got '",
        SyncModeName(ps.sync_mode()), "'"));
  }
  if (ps.has_dense_pull_warmup() && ps.dense_pull_every() <= 1) {
    return absl::InvalidArgumentError(
        absl::StrCat(at("ps.dense_pull_warmup"),
                     ": a warm-up of pulls after every send needs pulls every few sends "
                     "(--dense-pull-every N with N > 1); got an interval of ",
                     std::max<int64_t>(ps.dense_pull_every(), 1)));
  }
  absl::StatusOr<RowInit> row_init = ParseRowInit(ps.row_init());
  if (!row_init.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(at("ps.row_init"), ": ", row_init.status().message()));
  }
  if (strategy.training().grad_clip_norm() > 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        at("training.grad_clip_norm"),
        ": the ps strategy cannot clip by the global norm: each server holds only its own "
        "blocks' gradients (hint: drop --clip-norm, or use --strategy collective)"));
  }
  return absl::OkStatus();
}

// Mixed precision: a loss scale and its period that make sense, only for fp16, and for fp16 a
// mode whose trainers run the update (the loss-scaled step is skipped or taken as a whole on
// every rank).
absl::Status ValidateAmpConfig(const DistributedStrategy& strategy,
                               const std::function<std::string(std::string_view)>& at) {
  const proto::AmpConfig& amp = strategy.amp();
  if (amp.dtype() != proto::AmpConfig::FP16) {
    if (amp.init_loss_scale() != 0 || amp.incr_every_n_steps() != 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          at(amp.init_loss_scale() != 0 ? "amp.init_loss_scale" : "amp.incr_every_n_steps"),
          ": loss scaling needs --amp fp16",
          amp.dtype() == proto::AmpConfig::BF16 ? " (bf16 keeps f32's range and needs none)" : ""));
    }
    return absl::OkStatus();
  }
  if (!std::isfinite(amp.init_loss_scale()) || amp.init_loss_scale() < 0 ||
      amp.init_loss_scale() > 1e30) {
    return BadValue(at("amp.init_loss_scale"), "initial loss scale", amp.init_loss_scale(),
                    "a number > 0 up to 1e30 (0: 65536)");
  }
  if (amp.incr_every_n_steps() < 0) {
    return BadValue(at("amp.incr_every_n_steps"), "loss-scale growth interval",
                    static_cast<double>(amp.incr_every_n_steps()), "a step count >= 1 (0: 2000)");
  }
  if (strategy.mode() == DistributedStrategy::PS) {
    return absl::InvalidArgumentError(absl::StrCat(
        at("amp.dtype"),
        ": mixed precision with the ps strategy is not supported: the servers run the update, "
        "and a step whose scaled gradients overflow must be skipped as a whole (hint: "
        "--strategy collective)"));
  }
  if (strategy.mode() == DistributedStrategy::COLLECTIVE &&
      strategy.collective().mode() == proto::CollectiveConfig::REDUCE) {
    return absl::InvalidArgumentError(absl::StrCat(
        at("amp.dtype"),
        ": mixed precision with --collective-mode reduce is not supported: each owner would "
        "see only its own gradients overflow, and the ranks' loss scales would drift apart "
        "(hint: --collective-mode allreduce)"));
  }
  return absl::OkStatus();
}

// The optimizer hyper-parameters and the LR schedule (the fields after stop_gradient).
absl::Status ValidateOptimizerFields(const TrainingConfig& t,
                                     const std::function<std::string(std::string_view)>& at) {
  const std::string& o = t.optimizer();
  const bool sgd_like = o == "sgd" || o == "momentum";
  const bool adam_like = o == "adam" || o == "adamw";
  if (t.has_momentum()) {
    if (!std::isfinite(t.momentum()) || t.momentum() < 0) {
      return BadValue(at("training.momentum"), "momentum", t.momentum(), "a number >= 0");
    }
    if (!o.empty() && !sgd_like) {
      return NotFor(at("training.momentum"), "momentum", o, "sgd and momentum");
    }
  }
  if (t.nesterov()) {
    if (!o.empty() && !sgd_like) {
      return NotFor(at("training.nesterov"), "nesterov", o, "sgd and momentum");
    }
    const bool has_mu = t.has_momentum() ? t.momentum() > 0 : o == "momentum";
    if (!has_mu) {
      return absl::InvalidArgumentError(absl::StrCat(
          at("training.nesterov"), ": Nesterov momentum needs a momentum > 0 (--momentum)"));
    }
  }
  for (const auto& [has, value, field, name] :
       {std::make_tuple(t.has_beta1(), t.beta1(), "training.beta1", "beta1"),
        std::make_tuple(t.has_beta2(), t.beta2(), "training.beta2", "beta2")}) {
    if (!has) continue;
    if (!std::isfinite(value) || value < 0 || value >= 1) {
      return BadValue(at(field), name, value, "a number in [0, 1)");
    }
    if (!o.empty() && !adam_like) return NotFor(at(field), name, o, "adam and adamw");
  }
  if (t.has_epsilon()) {
    if (!std::isfinite(t.epsilon()) || t.epsilon() < 0) {
      return BadValue(at("training.epsilon"), "epsilon", t.epsilon(), "a number >= 0");
    }
    if (!o.empty() && !adam_like && o != "adagrad") {
      return NotFor(at("training.epsilon"), "epsilon", o, "adam, adamw and adagrad");
    }
  }
  if (t.has_weight_decay() && (!std::isfinite(t.weight_decay()) || t.weight_decay() < 0)) {
    return BadValue(at("training.weight_decay"), "weight decay", t.weight_decay(), "a number >= 0");
  }
  if (t.has_initial_accumulator()) {
    if (!std::isfinite(t.initial_accumulator()) || t.initial_accumulator() < 0) {
      return BadValue(at("training.initial_accumulator"), "initial accumulator",
                      t.initial_accumulator(), "a number >= 0");
    }
    if (!o.empty() && o != "adagrad") {
      return NotFor(at("training.initial_accumulator"), "initial accumulator", o, "adagrad");
    }
  }
  if (!std::isfinite(t.grad_clip_norm()) || t.grad_clip_norm() < 0) {
    return BadValue(at("training.grad_clip_norm"), "gradient clip norm", t.grad_clip_norm(),
                    "a number >= 0 (0: no clipping)");
  }
  const proto::LrSchedule& l = t.lr_schedule();
  if (l.warmup_steps() < 0) {
    return BadValue(at("training.lr_schedule.warmup_steps"), "warmup steps",
                    static_cast<double>(l.warmup_steps()), "a count >= 0");
  }
  if (l.decay_steps() < 0) {
    return BadValue(at("training.lr_schedule.decay_steps"), "decay steps",
                    static_cast<double>(l.decay_steps()), "a count >= 0");
  }
  const bool needs_steps = l.decay() == proto::LrSchedule::COSINE ||
                           l.decay() == proto::LrSchedule::LINEAR ||
                           l.decay() == proto::LrSchedule::STEP;
  if (needs_steps && l.decay_steps() == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        at("training.lr_schedule.decay_steps"), ": decay '", DecayName(l.decay()),
        "' needs decay_steps > 0 (the number of steps it decays over; --decay-steps)"));
  }
  if (l.has_decay_rate() && (!std::isfinite(l.decay_rate()) || l.decay_rate() <= 0)) {
    return BadValue(at("training.lr_schedule.decay_rate"), "decay rate", l.decay_rate(),
                    "a number > 0");
  }
  if (l.decay() == proto::LrSchedule::EXPONENTIAL && !l.has_decay_rate()) {
    return absl::InvalidArgumentError(
        absl::StrCat(at("training.lr_schedule.decay_rate"),
                     ": decay 'exponential' needs a decay rate (the factor per decay_steps "
                     "steps; --decay-rate)"));
  }
  if (!std::isfinite(l.min_lr()) || l.min_lr() < 0) {
    return BadValue(at("training.lr_schedule.min_lr"), "minimum learning rate", l.min_lr(),
                    "a number >= 0");
  }
  return absl::OkStatus();
}

}  // namespace

std::string ModeName(DistributedStrategy::Mode mode) {
  for (const ModeEntry& e : kModes) {
    if (e.mode == mode) return e.name;
  }
  return "single";  // MODE_UNSPECIFIED
}

absl::StatusOr<DistributedStrategy::Mode> ParseModeName(std::string_view name) {
  std::vector<std::string> known;
  for (const ModeEntry& e : kModes) {
    if (name == e.name) return e.mode;
    known.push_back(e.name);
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown strategy '", std::string(name), "'; expected one of ", absl::StrJoin(known, ", ")));
}

std::string LossKindName(TrainingConfig::LossKind kind) {
  for (const LossEntry& e : kLosses) {
    if (e.kind == kind) return e.name;
  }
  return "";
}

absl::StatusOr<TrainingConfig::LossKind> ParseLossKindName(std::string_view name) {
  std::vector<std::string> known;
  for (const LossEntry& e : kLosses) {
    if (name == e.name) return e.kind;
    known.push_back(e.name);
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown loss '", std::string(name), "'; expected one of ", absl::StrJoin(known, ", ")));
}

std::string DecayName(proto::LrSchedule::Decay decay) {
  for (const DecayEntry& e : kDecays) {
    if (e.decay == decay) return e.name;
  }
  return "";
}

absl::StatusOr<proto::LrSchedule::Decay> ParseDecayName(std::string_view name) {
  std::vector<std::string> known;
  for (const DecayEntry& e : kDecays) {
    if (name == e.name) return e.decay;
    known.push_back(e.name);
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown learning-rate decay '", std::string(name),
                                                 "'; expected one of ",
                                                 absl::StrJoin(known, ", ")));
}

std::string SyncModeName(proto::PsConfig::SyncMode mode) {
  for (const SyncModeEntry& e : kSyncModes) {
    if (e.mode == mode) return e.name;
  }
  return "";
}

absl::StatusOr<proto::PsConfig::SyncMode> ParseSyncModeName(std::string_view name) {
  std::vector<std::string> known;
  for (const SyncModeEntry& e : kSyncModes) {
    if (name == e.name) return e.mode;
    known.push_back(e.name);
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown sync mode '", std::string(name), "'; expected one of ", absl::StrJoin(known, ", ")));
}

bool IsKnownOptimizer(std::string_view name) {
  for (const char* o : kOptimizers) {
    if (name == o) return true;
  }
  return false;
}

absl::Status ValidateStrategy(const DistributedStrategy& strategy,
                              const StrategyFieldLocator& where) {
  auto at = [&](std::string_view field) {
    if (where) return where(field);
    return absl::StrCat("strategy field '", std::string(field), "'");
  };
  const TrainingConfig& t = strategy.training();
  if (!t.optimizer().empty() && !IsKnownOptimizer(t.optimizer())) {
    std::vector<std::string> known(std::begin(kOptimizers), std::end(kOptimizers));
    return absl::InvalidArgumentError(
        absl::StrCat(at("training.optimizer"), ": unknown optimizer '", t.optimizer(),
                     "'; expected one of ", absl::StrJoin(known, ", ")));
  }
  if (!std::isfinite(t.lr()) || t.lr() < 0) {
    return absl::InvalidArgumentError(absl::StrCat(at("training.lr"), ": learning rate ", t.lr(),
                                                   " is invalid; expected a number >= 0"));
  }
  if (!t.label().empty() && !t.output().empty() && t.label() == t.output()) {
    return absl::InvalidArgumentError(absl::StrCat(at("training.label"), ": label '", t.label(),
                                                   "' is also the output; expected a new name"));
  }
  const double bucket_mb = strategy.collective().bucket_mb();
  if (!std::isfinite(bucket_mb) || bucket_mb < 0 || bucket_mb > 1024 * 1024) {
    return absl::InvalidArgumentError(absl::StrCat(at("collective.bucket_mb"), ": bucket size ",
                                                   bucket_mb,
                                                   " MiB is invalid; expected 0 (default 25) to "
                                                   "1048576"));
  }
  const proto::LocalSgdConfig& l = strategy.localsgd();
  if (l.k_steps() < 0 || l.begin_step() < 0 || !std::isfinite(l.bucket_mb()) || l.bucket_mb() < 0 ||
      l.bucket_mb() > 1024 * 1024) {
    const bool k_bad = l.k_steps() < 0;
    const bool begin_bad = !k_bad && l.begin_step() < 0;
    return absl::InvalidArgumentError(absl::StrCat(
        at(k_bad       ? "localsgd.k_steps"
           : begin_bad ? "localsgd.begin_step"
                       : "localsgd.bucket_mb"),
        ": ",
        k_bad       ? absl::StrCat("k ", l.k_steps(), " is invalid; expected >= 1")
        : begin_bad ? absl::StrCat("begin step ", l.begin_step(), " is invalid; expected >= 0")
                    : absl::StrCat("bucket size ", l.bucket_mb(),
                                   " MiB is invalid; expected 0 (default 25) to 1048576")));
  }
  if (strategy.has_localsgd() && strategy.mode() != DistributedStrategy::LOCALSGD) {
    return absl::InvalidArgumentError(absl::StrCat(at("localsgd.k_steps"),
                                                   ": LocalSGD settings need the localsgd strategy "
                                                   "(--strategy localsgd); got '",
                                                   ModeName(strategy.mode()), "'"));
  }
  if (strategy.has_collective() && strategy.mode() != DistributedStrategy::COLLECTIVE) {
    return absl::InvalidArgumentError(absl::StrCat(at("collective.bucket_mb"),
                                                   ": collective settings need the collective "
                                                   "strategy (--strategy collective); got '",
                                                   ModeName(strategy.mode()), "'"));
  }
  FLEET_RETURN_IF_ERROR(ValidatePsConfig(strategy, at));
  FLEET_RETURN_IF_ERROR(ValidateAmpConfig(strategy, at));
  return ValidateOptimizerFields(t, at);
}

absl::StatusOr<DistributedStrategy> ParseStrategyText(const std::string& text,
                                                      const std::string& file) {
  DistributedStrategy strategy;
  google::protobuf::TextFormat::ParseInfoTree locations;
  FLEET_RETURN_IF_ERROR(ParseProtoText(text, file, &strategy, &locations));
  // Locates "training.lr" through the parse tree; the file alone when the field is absent.
  auto where = [&](std::string_view path) -> std::string {
    const google::protobuf::Descriptor* type = DistributedStrategy::descriptor();
    const google::protobuf::TextFormat::ParseInfoTree* tree = &locations;
    std::vector<std::string> parts = absl::StrSplit(std::string(path), '.');
    for (size_t i = 0; i < parts.size() && tree != nullptr && type != nullptr; ++i) {
      const google::protobuf::FieldDescriptor* field = type->FindFieldByName(parts[i]);
      if (field == nullptr) break;
      if (i + 1 == parts.size()) {
        google::protobuf::TextFormat::ParseLocation loc = tree->GetLocation(field, -1);
        if (loc.line >= 0) return absl::StrCat(file, ":", loc.line + 1, ":", loc.column + 1);
        break;
      }
      tree = tree->GetTreeForNested(field, -1);
      type = field->message_type();
    }
    return file;
  };
  absl::Status valid = ValidateStrategy(strategy, where);
  if (!valid.ok()) {
    // "s.pbtxt:4:3: unknown optimizer ..." -> "s.pbtxt:4:3: error: unknown optimizer ..."
    std::string message(valid.message());
    size_t colon = message.find(": ");
    if (colon != std::string::npos) message.insert(colon + 2, "error: ");
    return absl::InvalidArgumentError(message);
  }
  return strategy;
}

absl::StatusOr<DistributedStrategy> ReadStrategyFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot open strategy file"));
  std::stringstream buffer;
  buffer << in.rdbuf();
  return ParseStrategyText(buffer.str(), path);
}

absl::StatusOr<std::string> StrategyPipeline(const DistributedStrategy& strategy) {
  const std::string training = strategy.amp().dtype() != proto::AmpConfig::OFF
                                   ? "loss,autodiff,optimizer,amp,startup"
                                   : "loss,autodiff,optimizer,startup";
  switch (strategy.mode()) {
    case DistributedStrategy::MODE_UNSPECIFIED:
    case DistributedStrategy::SINGLE:
      return training;
    case DistributedStrategy::COLLECTIVE:
      return training + ",allreduce";
    case DistributedStrategy::LOCALSGD:
      return training + ",localsgd";
    case DistributedStrategy::PS:
      return training + ",ps-split";
    default:
      return absl::UnimplementedError(absl::StrCat("strategy mode ", strategy.mode(),
                                                   " is not known to this build; expected one "
                                                   "of single, ps, collective, localsgd"));
  }
}

std::string StrategyToText(const DistributedStrategy& strategy) {
  google::protobuf::TextFormat::Printer printer;
  printer.SetSingleLineMode(true);
  std::string text;
  printer.PrintToString(strategy, &text);
  while (!text.empty() && text.back() == ' ') text.pop_back();
  return text;
}

void RecordStrategy(const DistributedStrategy& strategy, Program& program) {
  program.meta.strategy = ModeName(strategy.mode());
  program.meta.extra[kRecordKey] = StrategyToText(strategy);
}

void RecordStrategy(const DistributedStrategy& strategy, Job& job) {
  for (auto& [name, program] : job.programs) RecordStrategy(strategy, program);
}

absl::StatusOr<std::optional<DistributedStrategy>> RecordedStrategy(const Program& program) {
  auto it = program.meta.extra.find(kRecordKey);
  if (it == program.meta.extra.end()) return std::optional<DistributedStrategy>();
  std::string where =
      absl::StrCat(program.source.empty() ? "program" : program.source, ": extra[\"strategy\"]");
  FLEET_ASSIGN_OR_RETURN(DistributedStrategy s, ParseStrategyText(it->second, where));
  return std::optional<DistributedStrategy>(std::move(s));
}

}  // namespace fleet
