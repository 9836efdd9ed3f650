// Strategy flags for the tools (tools/strategy_cli.h).
#include "tools/strategy_cli.h"

#include <cmath>
#include <map>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "ir/status_macros.h"
#include "passes/strategy.h"

namespace fleet {

void AddStrategyFlags(CLI::App& app, StrategyCliOptions& o) {
  app.add_option("--strategy", o.mode,
                 "training strategy: single (ps, collective, localsgd later)");
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
  app.add_option("--lr", o.lr, "learning rate (a number >= 0)");
}

absl::StatusOr<std::optional<proto::DistributedStrategy>> BuildStrategy(
    const StrategyCliOptions& o) {
  const bool any = !o.file.empty() || !o.mode.empty() || !o.label.empty() || !o.output.empty() ||
                   !o.loss_output.empty() || !o.loss.empty() || !o.optimizer.empty() ||
                   !o.lr.empty();
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
  if (s.mode() == proto::DistributedStrategy::MODE_UNSPECIFIED) {
    s.set_mode(proto::DistributedStrategy::SINGLE);
  }
  // A field set by a flag is blamed on the flag; one from the file was checked when read.
  const std::map<std::string, std::string> flags = {
      {"training.optimizer", o.optimizer.empty() ? "" : "--optimizer"},
      {"training.lr", o.lr.empty() ? "" : "--lr"},
      {"training.label", o.label.empty() ? (o.output.empty() ? "" : "--output") : "--label"},
  };
  FLEET_RETURN_IF_ERROR(ValidateStrategy(s, [&](std::string_view field) {
    auto it = flags.find(std::string(field));
    if (it != flags.end() && !it->second.empty()) return it->second;
    return o.file.empty() ? absl::StrCat("strategy field '", std::string(field), "'") : o.file;
  }));
  return std::optional<proto::DistributedStrategy>(std::move(s));
}

}  // namespace fleet
