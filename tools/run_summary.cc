#include "tools/run_summary.h"

#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "ir/fleet_ops.h"

namespace fleet {
namespace {

double Seconds(std::chrono::nanoseconds d) { return std::chrono::duration<double>(d).count(); }

// "512 B", "44.7 MB", "1.2 GB" (decimal units).
std::string Bytes(int64_t bytes) {
  const double b = static_cast<double>(bytes);
  if (b < 1e3) return absl::StrCat(bytes, " B");
  if (b < 1e6) return absl::StrFormat("%.1f kB", b / 1e3);
  if (b < 1e9) return absl::StrFormat("%.1f MB", b / 1e6);
  return absl::StrFormat("%.2f GB", b / 1e9);
}

// A finite number, or null (JSON has no NaN or infinity).
nlohmann::json Number(double v) { return std::isfinite(v) ? nlohmann::json(v) : nullptr; }

}  // namespace

std::string OverlapLine(const CommunicatorStats& steps, const WaitStats& waits) {
  std::string line;
  for (int k = 0; k < kNumCollectiveKinds; ++k) {
    const auto kind = static_cast<CollectiveKind>(k);
    const CollectiveTotals& t = steps[kind];
    if (t.calls == 0) continue;
    absl::StrAppend(&line, std::string(CollectiveKindName(kind)), ": ", t.calls,
                    t.calls == 1 ? " call, " : " calls, ", Bytes(t.bytes), "; ");
  }
  const CollectiveTotals all = Total(steps);
  if (all.calls == 0) return "collectives: none in the training steps (nothing to overlap)";
  const auto waited = waits.waited + BlockingBusy(steps);
  return absl::StrCat(
      line,
      absl::StrFormat("%.2f s on the wire, %.2f s waited for: %.0f%% hidden behind computation",
                      Seconds(all.busy), Seconds(waited), 100 * HiddenShare(all.busy, waited)));
}

std::optional<RunPlace::Amp> MixedPrecisionState(const Scope& state) {
  const Tensor* scale = state.Find(kAmpLossScaleVar);
  const Tensor* skipped = state.Find(kAmpSkippedStepsVar);
  if (scale == nullptr || skipped == nullptr || !scale->defined() || !skipped->defined() ||
      scale->dtype() != DataType::kF32 || skipped->dtype() != DataType::kI64 ||
      scale->numel() != 1 || skipped->numel() != 1) {
    return std::nullopt;
  }
  // Copied to the host, where the state may still be on a GPU.
  float scale_value = 0;
  int64_t skipped_value = 0;
  std::memcpy(&scale_value, scale->ToValue().bytes.data(), sizeof(scale_value));
  std::memcpy(&skipped_value, skipped->ToValue().bytes.data(), sizeof(skipped_value));
  return RunPlace::Amp{scale_value, skipped_value};
}

std::string MixedPrecisionLine(const RunPlace::Amp& amp) {
  return absl::StrCat(
      "mixed precision fp16: ", amp.skipped_steps, amp.skipped_steps == 1 ? " step" : " steps",
      " skipped since the job began (their gradients overflowed); loss scale now ", amp.loss_scale);
}

absl::Status WriteRunSummary(const std::string& path, const TrainResult& r, const RunPlace& place) {
  nlohmann::json metrics = nlohmann::json::object();
  for (const auto& [name, value] : r.metrics) metrics[name] = Number(value);
  nlohmann::json summary = {
      {"rank", place.rank},
      {"world_size", place.world},
      {"first_step", r.first_step},
      {"steps", r.steps},
      {"samples", r.samples},
      {"seconds", r.seconds},
      {"samples_per_sec", Number(r.seconds > 0 ? static_cast<double>(r.samples) / r.seconds : 0)},
      {"final_loss", Number(r.final_loss)},
      {"metrics", metrics},
      {"executor",
       {{"runs", r.waits.runs}, {"waits", r.waits.waits}, {"waited_sec", Seconds(r.waits.waited)}}},
      {"transport", nullptr},
      {"collectives", nullptr},
      {"overlap", nullptr},
      {"parameter_server", nullptr},
      {"amp", nullptr},
  };
  if (place.amp != nullptr) {
    summary["amp"] = {{"loss_scale", place.amp->loss_scale},
                      {"skipped_steps", place.amp->skipped_steps}};
  }
  if (place.ps != nullptr) {
    const ps::PsTraffic& t = *place.ps;
    summary["parameter_server"] = {
        {"calls", t.calls},
        {"bytes_sent", t.bytes_sent},
        {"bytes_received", t.bytes_received},
        {"bytes_per_step",
         r.steps > 0 ? static_cast<double>(t.bytes_sent + t.bytes_received) / r.steps : 0.0}};
  }
  if (place.comm != nullptr) {
    nlohmann::json kinds = nlohmann::json::object();
    for (int k = 0; k < kNumCollectiveKinds; ++k) {
      const auto kind = static_cast<CollectiveKind>(k);
      const CollectiveTotals& t = (*place.comm)[kind];
      kinds[std::string(CollectiveKindName(kind))] = {
          {"calls", t.calls}, {"bytes", t.bytes}, {"busy_sec", Seconds(t.busy)}};
    }
    summary["collectives"] = std::move(kinds);
    if (place.transport != nullptr) summary["transport"] = place.transport;
    const CollectiveTotals all = Total(*place.comm);
    if (all.calls > 0) {
      summary["overlap"] = HiddenShare(all.busy, r.waits.waited + BlockingBusy(*place.comm));
    }
  }
  std::ofstream out(path, std::ios::trunc);
  if (!out) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": cannot write the run summary: ", std::strerror(errno)));
  }
  out << summary.dump(1) << "\n";
  out.close();
  if (!out) {
    return absl::DataLossError(absl::StrCat(path, ": write failed: ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

}  // namespace fleet
