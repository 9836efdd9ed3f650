// What a training run tells its user while it runs: a progress bar on a terminal (or plain lines
// every so many steps when the output is not one), a JSON-lines metrics file, and the summary
// at the end.
//
//   epoch 1/2 [=========>          ] 120/250  loss 0.4213  accuracy 0.871  5,120 samples/s  ETA
//   0:03
//
// Not thread-safe: the training loop reports one step at a time under its own lock.
#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace fleet {

using MetricValues = std::vector<std::pair<std::string, double>>;

// One finished step.
struct StepReport {
  int64_t step = 0;      // 1-based, counting the steps of a loaded checkpoint
  int64_t run_step = 0;  // 1-based within this run
  int epoch = 0;         // 0-based
  int64_t batch_size = 0;
  double loss = 0;             // the batch's loss, before the update
  MetricValues metrics;        // over the epoch so far
  double samples_per_sec = 0;  // over this run so far
  double elapsed_sec = 0;
};

// Appends one JSON object per reported step to a file, flushed at once so a crash keeps every
// line written: {"step": 12, "epoch": 0, "loss": 0.53, "accuracy": 0.8, "samples_per_sec": 1e4,
// "elapsed_sec": 1.9} (seconds since the run's first step began).
class MetricsWriter {
 public:
  // Creates (truncates) `path`.
  static absl::StatusOr<std::unique_ptr<MetricsWriter>> Open(const std::string& path);
  ~MetricsWriter();
  MetricsWriter(const MetricsWriter&) = delete;
  MetricsWriter& operator=(const MetricsWriter&) = delete;

  absl::Status Write(const StepReport& report);

 private:
  MetricsWriter(std::FILE* file, std::string path) : file_(file), path_(std::move(path)) {}
  std::FILE* file_;
  std::string path_;
};

// The JSON line MetricsWriter writes (without the newline); non-finite numbers become null.
std::string StepReportJson(const StepReport& report);

// Progress on `out` (standard error): on a terminal a bar redrawn in place at most ten times a
// second; otherwise one line every `log_every` steps and on the last step.
class ProgressPrinter {
 public:
  ProgressPrinter(std::ostream& out, bool terminal, int64_t total_steps, int epochs,
                  int64_t log_every);
  void Report(const StepReport& report);
  // Ends the bar's line; call once after the last step (also after an error).
  void Finish();
  // The loss smoothed over recent steps (exponential moving average).
  double smoothed_loss() const { return smoothed_loss_; }

 private:
  std::string Line(const StepReport& report) const;

  std::ostream& out_;
  bool terminal_;
  int64_t total_steps_;
  int epochs_;
  int64_t log_every_;
  double smoothed_loss_ = 0;
  bool drawn_ = false;
  double last_draw_sec_ = -1;
};

// "1:05" or "2:03:04".
std::string FormatDuration(double seconds);

}  // namespace fleet
