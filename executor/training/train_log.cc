// Progress bar, plain progress lines and the JSON-lines metrics file of a training run.
#include "executor/training/train_log.h"

#include <cerrno>
#include <cmath>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace fleet {
namespace {

std::string JsonNumber(double v) {
  if (!std::isfinite(v)) return "null";
  return absl::StrFormat("%.9g", v);
}

std::string JsonString(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    const unsigned char u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20) {
      out += absl::StrFormat("\\u%04x", u);
    } else {
      out += c;
    }
  }
  return out + "\"";
}

constexpr int kBarWidth = 24;
constexpr double kSmoothing = 0.1;  // weight of the newest loss in the moving average

}  // namespace

std::string FormatDuration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const int64_t s = static_cast<int64_t>(std::llround(seconds));
  if (s >= 3600) return absl::StrFormat("%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60);
  return absl::StrFormat("%d:%02d", s / 60, s % 60);
}

std::string StepReportJson(const StepReport& r) {
  std::string out = absl::StrCat("{\"step\": ", r.step, ", \"epoch\": ", r.epoch,
                                 ", \"loss\": ", JsonNumber(r.loss));
  for (const auto& [name, value] : r.metrics) {
    absl::StrAppend(&out, ", ", JsonString(name), ": ", JsonNumber(value));
  }
  absl::StrAppend(&out, ", \"samples_per_sec\": ", JsonNumber(r.samples_per_sec),
                  ", \"elapsed_sec\": ", JsonNumber(r.elapsed_sec), "}");
  return out;
}

absl::StatusOr<std::unique_ptr<MetricsWriter>> MetricsWriter::Open(const std::string& path) {
  std::FILE* file = std::fopen(path.c_str(), "w");
  if (file == nullptr) {
    return absl::PermissionDeniedError(
        absl::StrCat(path, ": cannot write the metrics file: ", std::strerror(errno)));
  }
  return std::unique_ptr<MetricsWriter>(new MetricsWriter(file, path));
}

MetricsWriter::~MetricsWriter() { std::fclose(file_); }

absl::Status MetricsWriter::Write(const StepReport& report) {
  const std::string line = StepReportJson(report) + "\n";
  if (std::fwrite(line.data(), 1, line.size(), file_) != line.size() || std::fflush(file_) != 0) {
    return absl::DataLossError(absl::StrCat(path_, ": write failed: ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

ProgressPrinter::ProgressPrinter(std::ostream& out, bool terminal, int64_t total_steps, int epochs,
                                 int64_t log_every)
    : out_(out),
      terminal_(terminal),
      total_steps_(total_steps),
      epochs_(epochs),
      log_every_(log_every < 1 ? 1 : log_every) {}

std::string ProgressPrinter::Line(const StepReport& r) const {
  std::string line = absl::StrCat("epoch ", r.epoch + 1, "/", epochs_, " ");
  if (terminal_) {
    const double done = total_steps_ > 0 ? static_cast<double>(r.run_step) / total_steps_ : 1.0;
    const int filled = static_cast<int>(done * kBarWidth);
    std::string bar(static_cast<size_t>(kBarWidth), ' ');
    for (int i = 0; i < filled && i < kBarWidth; ++i) bar[static_cast<size_t>(i)] = '=';
    if (filled < kBarWidth) bar[static_cast<size_t>(filled)] = '>';
    absl::StrAppend(&line, "[", bar, "] ");
  }
  absl::StrAppend(&line, "step ", r.run_step, "/", total_steps_,
                  absl::StrFormat("  loss %.4g (avg %.4g)", r.loss, smoothed_loss_));
  for (const auto& [name, value] : r.metrics) {
    absl::StrAppend(&line, absl::StrFormat("  %s %.4f", name, value));
  }
  absl::StrAppend(&line, absl::StrFormat("  %.0f samples/s", r.samples_per_sec));
  if (r.run_step < total_steps_ && r.run_step > 0) {
    const double eta = r.elapsed_sec / r.run_step * static_cast<double>(total_steps_ - r.run_step);
    absl::StrAppend(&line, "  ETA ", FormatDuration(eta));
  }
  return line;
}

void ProgressPrinter::Report(const StepReport& r) {
  smoothed_loss_ = r.run_step <= 1 || !std::isfinite(smoothed_loss_)
                       ? r.loss
                       : (1 - kSmoothing) * smoothed_loss_ + kSmoothing * r.loss;
  const bool last = r.run_step >= total_steps_;
  if (terminal_) {
    if (!last && r.elapsed_sec - last_draw_sec_ < 0.1 && last_draw_sec_ >= 0) return;
    last_draw_sec_ = r.elapsed_sec;
    // \r and "erase to end of line" redraw the bar in place.
    out_ << "\r" << Line(r) << "\x1b[K" << std::flush;
    drawn_ = true;
    return;
  }
  if (r.run_step % log_every_ == 0 || last) out_ << Line(r) << "\n" << std::flush;
}

void ProgressPrinter::Finish() {
  if (terminal_ && drawn_) out_ << "\n" << std::flush;
  drawn_ = false;
}

}  // namespace fleet
