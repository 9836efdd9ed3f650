// Strategy flags for the tools (tools/strategy_cli.h).
#include "tools/strategy_cli.h"

#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "ir/status_macros.h"
#include "passes/strategy.h"

namespace fleet {
namespace {

// The first parameter-server flag given, to blame when the strategy is not ps; "" for none.
std::string FirstPsFlag(const StrategyCliOptions& o) {
  const std::pair<const std::string*, const char*> flags[] = {
      {&o.sync_mode, "--sync-mode"},
      {&o.servers, "--servers"},
      {&o.workers, "--workers"},
      {&o.min_block_size, "--min-block-size"},
      {&o.geo_k_steps, "--geo-k-steps"},
      {&o.row_init, "--row-init"},
      {&o.dense_pull_every, "--dense-pull-every"},
      {&o.dense_pull_warmup, "--dense-pull-warmup"}};
  for (const auto& [value, flag] : flags) {
    if (!value->empty()) return flag;
  }
  return "";
}

// The ps.* flags into `s`; a value that is not a number is an error naming its flag.
absl::Status BuildPsConfig(const StrategyCliOptions& o, proto::DistributedStrategy& s) {
  if (!o.sync_mode.empty()) {
    absl::StatusOr<proto::PsConfig::SyncMode> mode = ParseSyncModeName(o.sync_mode);
    if (!mode.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("--sync-mode: ", mode.status().message()));
    }
    s.mutable_ps()->set_sync_mode(*mode);
  }
  // Counts: whole numbers no larger than their field holds; ValidateStrategy checks the
  // range that makes sense.
  auto count = [](const char* flag, const std::string& text, int64_t most,
                  auto set) -> absl::Status {
    if (text.empty()) return absl::OkStatus();
    int64_t value = 0;
    if (!absl::SimpleAtoi(text, &value)) {
      return absl::InvalidArgumentError(
          absl::StrCat(flag, ": '", text, "' is not a whole number; expected a count"));
    }
    if (value > most || value < -most) {
      return absl::InvalidArgumentError(
          absl::StrCat(flag, ": ", value, " is out of range; expected at most ", most));
    }
    set(value);
    return absl::OkStatus();
  };
  constexpr int64_t kInt32Max = std::numeric_limits<int32_t>::max();
  constexpr int64_t kInt64Max = std::numeric_limits<int64_t>::max();
  FLEET_RETURN_IF_ERROR(count("--servers", o.servers, kInt32Max, [&](int64_t v) {
    s.mutable_ps()->set_servers(static_cast<int32_t>(v));
  }));
  FLEET_RETURN_IF_ERROR(count("--workers", o.workers, kInt32Max, [&](int64_t v) {
    s.mutable_ps()->set_workers(static_cast<int32_t>(v));
  }));
  FLEET_RETURN_IF_ERROR(count("--min-block-size", o.min_block_size, kInt64Max,
                              [&](int64_t v) { s.mutable_ps()->set_min_block_size(v); }));
  FLEET_RETURN_IF_ERROR(count("--geo-k-steps", o.geo_k_steps, kInt64Max,
                              [&](int64_t v) { s.mutable_ps()->set_geo_k_steps(v); }));
  FLEET_RETURN_IF_ERROR(count("--dense-pull-every", o.dense_pull_every, kInt64Max,
                              [&](int64_t v) { s.mutable_ps()->set_dense_pull_every(v); }));
  FLEET_RETURN_IF_ERROR(count("--dense-pull-warmup", o.dense_pull_warmup, kInt64Max,
                              [&](int64_t v) { s.mutable_ps()->set_dense_pull_warmup(v); }));
  if (!o.row_init.empty()) s.mutable_ps()->set_row_init(o.row_init);
  return absl::OkStatus();
}

}  // namespace

void AddStrategyFlags(CLI::App& app, StrategyCliOptions& o) {
  app.add_option(
      "--strategy", o.mode,
      "training strategy: single; ps (parameter servers hold the parameters and run the "
      "optimizer; --servers N); collective (data parallel: gradients averaged over the ranks); "
      "localsgd (ranks average their parameters every --k-steps steps)");
  app.add_option("--strategy-file", o.file,
                 "a DistributedStrategy in protobuf text format; flags override its fields");
  app.add_option("--label", o.label,
                 "name of the new label feed var the loss reads (default: label)");
  app.add_option("--output", o.output,
                 "model output the loss is computed on (default: the only fetch var)");
  app.add_option("--loss-output", o.loss_output,
                 "model output that already is the loss (a scalar); nothing is appended");
  app.add_option("--loss", o.loss, "loss to append: softmax_ce, sigmoid_bce or mse");
  app.add_option("--optimizer", o.optimizer, "optimizer: sgd, momentum, adam, adamw or adagrad");
  app.add_option("--lr", o.lr,
                 "learning rate (a number > 0; default for adam/adamw 0.001, adagrad 0.01)");
  app.add_option("--momentum", o.momentum,
                 "sgd/momentum: momentum factor (sgd: 0, momentum: 0.9); sgd with a momentum > 0 "
                 "is momentum");
  app.add_flag("--nesterov", o.nesterov, "sgd/momentum: Nesterov momentum");
  app.add_option("--beta1", o.beta1, "adam/adamw: first moment decay (default 0.9)");
  app.add_option("--beta2", o.beta2, "adam/adamw: second moment decay (default 0.999)");
  app.add_option("--epsilon", o.epsilon,
                 "adam/adamw/adagrad: denominator term (default 1e-8; adagrad 1e-10)");
  app.add_option("--weight-decay", o.weight_decay,
                 "weight decay: L2 added to the gradient (sgd, momentum, adam, adagrad; default 0) "
                 "or decoupled (adamw; default 0.01)");
  app.add_option("--initial-accumulator", o.initial_accumulator,
                 "adagrad: initial accumulator value (default 0)");
  app.add_option("--clip-norm", o.clip_norm,
                 "clip the gradients to this global 2-norm before each update (0: off)");
  app.add_option("--warmup-steps", o.warmup_steps,
                 "learning rate rises linearly from 0 over this many steps (default 0)");
  app.add_option(
      "--lr-decay", o.lr_decay,
      "learning-rate decay after warm-up: constant, cosine, linear, exponential or step");
  app.add_option("--decay-steps", o.decay_steps,
                 "steps the decay runs over (cosine, linear: to --min-lr; step: period; "
                 "exponential: steps per factor of --decay-rate)");
  app.add_option("--decay-rate", o.decay_rate,
                 "decay factor of exponential and step decay (step: default 0.1)");
  app.add_option("--min-lr", o.min_lr, "learning rate the decay ends at or stays above (0)");
  app.add_option("--bucket-mb", o.bucket_mb,
                 "collective: gradients travel in fused buckets of at most this many MiB, each "
                 "sent while backward goes on (default 25)");
  app.add_option("--collective-mode", o.collective_mode,
                 "collective: allreduce (every rank averages every gradient and updates every "
                 "parameter; default) or reduce (each bucket's gradients go to one owner rank, "
                 "which updates those parameters and broadcasts them)");
  app.add_option("--k-steps", o.k_steps,
                 "localsgd: the ranks average their parameters every this many steps (default 1)");
  app.add_option("--begin-step", o.begin_step,
                 "localsgd: gradients are averaged every step until this step, local steps "
                 "after (default 0)");
  app.add_flag("--adaptive", o.adaptive,
               "localsgd: adapt the period to the loss after every average (Paddle's adaptive "
               "LocalSGD; --k-steps is the first period)");
  app.add_option("--amp", o.amp,
                 "mixed precision: fp16 or bf16. GEMMs and convolutions compute in that type; "
                 "parameters, updates and other ops stay f32. fp16 scales the loss and skips a "
                 "step whose gradients overflow (not with ps or --collective-mode reduce); bf16 "
                 "has f32's range and needs no scaling");
  app.add_option("--amp-loss-scale", o.amp_loss_scale,
                 "--amp fp16: the first loss scale (default 65536); it halves after a step "
                 "with an inf or NaN and doubles after --amp-growth-interval finite steps");
  app.add_option("--amp-growth-interval", o.amp_growth_interval,
                 "--amp fp16: finite steps in a row before the loss scale doubles (default "
                 "2000)");
  app.add_option("--sync-mode", o.sync_mode,
                 "ps: sync (every step waits for all trainers' updates; default), async (no "
                 "barriers; gradients sent in the background), half_async (no barriers, but a "
                 "trainer's own gradients reach the servers before it pulls) or geo (trainers "
                 "update their own copies and exchange their changes every --geo-k-steps "
                 "steps)");
  app.add_option("--servers", o.servers, "ps: the number of parameter servers (required, >= 1)");
  app.add_option("--workers", o.workers,
                 "ps: the number of trainers, recorded in the strategy (0: unknown; the "
                 "launcher decides at run time)");
  app.add_option("--min-block-size", o.min_block_size,
                 "ps: dense parameters are cut into at most one block per server, of at least "
                 "this many elements in whole rows (default 8192)");
  app.add_option("--geo-k-steps", o.geo_k_steps,
                 "ps, --sync-mode geo: steps between two pushes of the deltas (default 100)");
  app.add_option("--row-init", o.row_init,
                 "ps: how table rows the model does not carry start: zeros (default), "
                 "normal:STD or uniform:A (U(-A, A))");
  app.add_option("--dense-pull-every", o.dense_pull_every,
                 "ps, --sync-mode async: a trainer pulls the dense parameters after every N "
                 "sends of its gradients instead of after each (Paddle's "
                 "min_send_grad_num_before_recv; default 1): less traffic, staler parameters");
  app.add_option("--dense-pull-warmup", o.dense_pull_warmup,
                 "ps, --sync-mode async, with --dense-pull-every N > 1: the first this many "
                 "sends still pull after each, where early gradients are largest and stale "
                 "parameters can make SGD diverge (default 50; 0: none)");
}

absl::StatusOr<std::optional<proto::DistributedStrategy>> BuildStrategy(
    const StrategyCliOptions& o) {
  const bool any = !o.file.empty() || !o.mode.empty() || !o.label.empty() || !o.output.empty() ||
                   !o.loss_output.empty() || !o.loss.empty() || !o.optimizer.empty() ||
                   !o.lr.empty() || !o.momentum.empty() || o.nesterov || !o.beta1.empty() ||
                   !o.beta2.empty() || !o.epsilon.empty() || !o.weight_decay.empty() ||
                   !o.initial_accumulator.empty() || !o.clip_norm.empty() ||
                   !o.warmup_steps.empty() || !o.lr_decay.empty() || !o.decay_steps.empty() ||
                   !o.decay_rate.empty() || !o.min_lr.empty() || !o.bucket_mb.empty() ||
                   !o.collective_mode.empty() || !o.k_steps.empty() || !o.begin_step.empty() ||
                   o.adaptive || !o.sync_mode.empty() || !o.servers.empty() || !o.workers.empty() ||
                   !o.min_block_size.empty() || !o.geo_k_steps.empty() || !o.row_init.empty() ||
                   !o.dense_pull_every.empty() || !o.dense_pull_warmup.empty() || !o.amp.empty() ||
                   !o.amp_loss_scale.empty() || !o.amp_growth_interval.empty();
  if (!any) return std::optional<proto::DistributedStrategy>();

  proto::DistributedStrategy s;
  if (!o.file.empty()) {
    FLEET_ASSIGN_OR_RETURN(s, ReadStrategyFile(o.file));
  }
  auto flag_error = [](const char* flag, const absl::Status& status) {
    return absl::InvalidArgumentError(absl::StrCat(flag, ": ", status.message()));
  };
  if (!o.mode.empty()) {
    absl::StatusOr<proto::DistributedStrategy::Mode> mode = ParseModeName(o.mode);
    if (!mode.ok()) return flag_error("--strategy", mode.status());
    s.set_mode(*mode);
  }
  proto::TrainingConfig* t = s.mutable_training();
  if (!o.loss.empty()) {
    absl::StatusOr<proto::TrainingConfig::LossKind> loss = ParseLossKindName(o.loss);
    if (!loss.ok()) return flag_error("--loss", loss.status());
    t->set_loss(*loss);
  }
  if (!o.label.empty()) t->set_label(o.label);
  if (!o.output.empty()) t->set_output(o.output);
  if (!o.loss_output.empty()) t->set_loss_output(o.loss_output);
  if (!o.optimizer.empty()) t->set_optimizer(o.optimizer);
  if (!o.lr.empty()) {
    double lr = 0;
    if (!absl::SimpleAtod(o.lr, &lr) || !std::isfinite(lr)) {
      return absl::InvalidArgumentError(
          absl::StrCat("--lr: '", o.lr, "' is not a number; expected a learning rate >= 0"));
    }
    t->set_lr(lr);
  }
  // Number flags: the value goes to `set` when the flag is given.
  auto number = [](const char* flag, const std::string& text, auto set) -> absl::Status {
    if (text.empty()) return absl::OkStatus();
    double value = 0;
    if (!absl::SimpleAtod(text, &value) || !std::isfinite(value)) {
      return absl::InvalidArgumentError(
          absl::StrCat(flag, ": '", text, "' is not a number; expected a finite number"));
    }
    set(value);
    return absl::OkStatus();
  };
  auto count = [](const char* flag, const std::string& text, auto set) -> absl::Status {
    if (text.empty()) return absl::OkStatus();
    int64_t value = 0;
    if (!absl::SimpleAtoi(text, &value)) {
      return absl::InvalidArgumentError(
          absl::StrCat(flag, ": '", text, "' is not an integer; expected a step count >= 0"));
    }
    set(value);
    return absl::OkStatus();
  };
  proto::LrSchedule* l = t->mutable_lr_schedule();
  FLEET_RETURN_IF_ERROR(number("--momentum", o.momentum, [&](double v) { t->set_momentum(v); }));
  FLEET_RETURN_IF_ERROR(number("--beta1", o.beta1, [&](double v) { t->set_beta1(v); }));
  FLEET_RETURN_IF_ERROR(number("--beta2", o.beta2, [&](double v) { t->set_beta2(v); }));
  FLEET_RETURN_IF_ERROR(number("--epsilon", o.epsilon, [&](double v) { t->set_epsilon(v); }));
  FLEET_RETURN_IF_ERROR(
      number("--weight-decay", o.weight_decay, [&](double v) { t->set_weight_decay(v); }));
  FLEET_RETURN_IF_ERROR(number("--initial-accumulator", o.initial_accumulator,
                               [&](double v) { t->set_initial_accumulator(v); }));
  FLEET_RETURN_IF_ERROR(
      number("--clip-norm", o.clip_norm, [&](double v) { t->set_grad_clip_norm(v); }));
  FLEET_RETURN_IF_ERROR(
      count("--warmup-steps", o.warmup_steps, [&](int64_t v) { l->set_warmup_steps(v); }));
  FLEET_RETURN_IF_ERROR(
      count("--decay-steps", o.decay_steps, [&](int64_t v) { l->set_decay_steps(v); }));
  FLEET_RETURN_IF_ERROR(
      number("--decay-rate", o.decay_rate, [&](double v) { l->set_decay_rate(v); }));
  FLEET_RETURN_IF_ERROR(number("--min-lr", o.min_lr, [&](double v) { l->set_min_lr(v); }));
  const bool localsgd = s.mode() == proto::DistributedStrategy::LOCALSGD;
  FLEET_RETURN_IF_ERROR(number("--bucket-mb", o.bucket_mb, [&](double v) {
    if (localsgd) {
      s.mutable_localsgd()->set_bucket_mb(v);
    } else {
      s.mutable_collective()->set_bucket_mb(v);
    }
  }));
  if (!o.collective_mode.empty()) {
    if (o.collective_mode == "allreduce") {
      s.mutable_collective()->set_mode(proto::CollectiveConfig::ALLREDUCE);
    } else if (o.collective_mode == "reduce") {
      s.mutable_collective()->set_mode(proto::CollectiveConfig::REDUCE);
    } else {
      return absl::InvalidArgumentError(absl::StrCat("--collective-mode: unknown mode '",
                                                     o.collective_mode,
                                                     "'; expected allreduce or reduce"));
    }
  }
  FLEET_RETURN_IF_ERROR(
      count("--k-steps", o.k_steps, [&](int64_t v) { s.mutable_localsgd()->set_k_steps(v); }));
  FLEET_RETURN_IF_ERROR(count("--begin-step", o.begin_step,
                              [&](int64_t v) { s.mutable_localsgd()->set_begin_step(v); }));
  if (o.adaptive) s.mutable_localsgd()->set_adaptive(true);
  if (!o.amp.empty()) {
    if (o.amp != "fp16" && o.amp != "bf16") {
      return absl::InvalidArgumentError(
          absl::StrCat("--amp: unknown type '", o.amp, "'; expected fp16 or bf16"));
    }
    s.mutable_amp()->set_dtype(o.amp == "fp16" ? proto::AmpConfig::FP16 : proto::AmpConfig::BF16);
  }
  FLEET_RETURN_IF_ERROR(number("--amp-loss-scale", o.amp_loss_scale,
                               [&](double v) { s.mutable_amp()->set_init_loss_scale(v); }));
  FLEET_RETURN_IF_ERROR(count("--amp-growth-interval", o.amp_growth_interval,
                              [&](int64_t v) { s.mutable_amp()->set_incr_every_n_steps(v); }));
  FLEET_RETURN_IF_ERROR(BuildPsConfig(o, s));
  if (o.nesterov) t->set_nesterov(true);
  if (!o.lr_decay.empty()) {
    absl::StatusOr<proto::LrSchedule::Decay> decay = ParseDecayName(o.lr_decay);
    if (!decay.ok()) return flag_error("--lr-decay", decay.status());
    l->set_decay(*decay);
  }
  if (l->ByteSizeLong() == 0) t->clear_lr_schedule();
  if (s.mode() == proto::DistributedStrategy::MODE_UNSPECIFIED) {
    s.set_mode(proto::DistributedStrategy::SINGLE);
  }
  // A field set by a flag is blamed on the flag; one from the file was checked when read.
  const std::map<std::string, std::string> flags = {
      {"training.optimizer", o.optimizer.empty() ? "" : "--optimizer"},
      {"training.lr", o.lr.empty() ? "" : "--lr"},
      {"training.momentum", o.momentum.empty() ? "" : "--momentum"},
      {"training.nesterov", o.nesterov ? "--nesterov" : ""},
      {"training.beta1", o.beta1.empty() ? "" : "--beta1"},
      {"training.beta2", o.beta2.empty() ? "" : "--beta2"},
      {"training.epsilon", o.epsilon.empty() ? "" : "--epsilon"},
      {"training.weight_decay", o.weight_decay.empty() ? "" : "--weight-decay"},
      {"training.initial_accumulator",
       o.initial_accumulator.empty() ? "" : "--initial-accumulator"},
      {"training.grad_clip_norm", o.clip_norm.empty() ? "" : "--clip-norm"},
      {"training.lr_schedule.warmup_steps", o.warmup_steps.empty() ? "" : "--warmup-steps"},
      {"training.lr_schedule.decay_steps",
       o.decay_steps.empty() ? (o.lr_decay.empty() ? "" : "--lr-decay") : "--decay-steps"},
      {"training.lr_schedule.decay_rate",
       o.decay_rate.empty() ? (o.lr_decay.empty() ? "" : "--lr-decay") : "--decay-rate"},
      {"training.lr_schedule.min_lr", o.min_lr.empty() ? "" : "--min-lr"},
      {"training.label", o.label.empty() ? (o.output.empty() ? "" : "--output") : "--label"},
      {"collective.bucket_mb", o.bucket_mb.empty()
                                   ? (o.collective_mode.empty() ? "" : "--collective-mode")
                                   : "--bucket-mb"},
      {"localsgd.bucket_mb", o.bucket_mb.empty() ? "" : "--bucket-mb"},
      {"localsgd.k_steps",
       o.k_steps.empty()
           ? (o.adaptive ? "--adaptive" : (o.begin_step.empty() ? "" : "--begin-step"))
           : "--k-steps"},
      {"localsgd.begin_step", o.begin_step.empty() ? "" : "--begin-step"},
      {"ps", FirstPsFlag(o)},
      {"ps.servers", o.servers.empty() ? (o.mode.empty() ? "" : "--strategy") : "--servers"},
      {"ps.workers", o.workers.empty() ? "" : "--workers"},
      {"ps.min_block_size", o.min_block_size.empty() ? "" : "--min-block-size"},
      {"ps.geo_k_steps", o.geo_k_steps.empty() ? "" : "--geo-k-steps"},
      {"ps.row_init", o.row_init.empty() ? "" : "--row-init"},
      {"ps.dense_pull_every", o.dense_pull_every.empty() ? "" : "--dense-pull-every"},
      {"ps.dense_pull_warmup", o.dense_pull_warmup.empty() ? "" : "--dense-pull-warmup"},
      {"amp.dtype", o.amp.empty() ? "" : "--amp"},
      {"amp.init_loss_scale", o.amp_loss_scale.empty() ? "" : "--amp-loss-scale"},
      {"amp.incr_every_n_steps", o.amp_growth_interval.empty() ? "" : "--amp-growth-interval"},
  };
  FLEET_RETURN_IF_ERROR(ValidateStrategy(s, [&](std::string_view field) {
    auto it = flags.find(std::string(field));
    if (it != flags.end() && !it->second.empty()) return it->second;
    return o.file.empty() ? absl::StrCat("strategy field '", std::string(field), "'") : o.file;
  }));
  return std::optional<proto::DistributedStrategy>(std::move(s));
}

}  // namespace fleet
