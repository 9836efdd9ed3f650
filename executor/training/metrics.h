// Training metrics beside the loss: accuracy for classifiers (argmax of the scores against an
// integer label) and a streaming AUC for binary click-through models (one logit per record
// against a 0/1 label), bucketed like Paddle's auc op.
//
// Metrics accumulate over an epoch (Reset at its start) and are not thread-safe: the training
// loop updates them under its own lock.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "executor/tensor.h"

namespace fleet {

// AUC over a stream of (probability, label) pairs, from histograms of the probabilities of the
// positive and negative records in `num_buckets` equal buckets of [0, 1]. Exact up to ties
// within a bucket: pairs whose probabilities share a bucket count half.
class StreamingAuc {
 public:
  static constexpr int kDefaultBuckets = 1 << 12;
  explicit StreamingAuc(int num_buckets = kDefaultBuckets);

  // `probability` is clamped to [0, 1]; NaN counts as 0.
  void Add(double probability, bool positive);
  // The area under the ROC curve; nullopt until both classes have been seen.
  std::optional<double> Value() const;
  void Reset();
  int64_t num_positive() const { return num_positive_; }
  int64_t num_negative() const { return num_negative_; }

 private:
  std::vector<int64_t> positive_;
  std::vector<int64_t> negative_;
  int64_t num_positive_ = 0;
  int64_t num_negative_ = 0;
};

// Hits of argmax over axis 1 of `scores` (f32/f64 [N, C, d...]) against `labels` (i64/i32
// [N, d...]); labels outside [0, C) are misses. INVALID_ARGUMENT when the shapes do not match.
absl::Status CountArgmaxHits(const Tensor& scores, const Tensor& labels, int64_t* hits,
                             int64_t* count);

// Which metrics a run reports, decided by its loss.
enum class MetricKind {
  kNone,      // loss only (mse, a model's own loss)
  kAccuracy,  // softmax_ce: argmax of the output against the label
  kAuc,       // sigmoid_bce with one output column: AUC of sigmoid(output) against the label
  kAccuracyAuc,  // softmax_ce with two classes (a CTR model's [N, 2] scores): accuracy, and
                 // the AUC of P(class 1) = sigmoid(score1 - score0)
};

// softmax_ce -> accuracy (plus AUC for [N, 2] scores); sigmoid_bce with an output of one column ([N] or [N, 1], or a rank
// not known yet) -> AUC; anything else -> none. `loss_kind` is the CLI spelling.
MetricKind ChooseMetricKind(const std::string& loss_kind,
                            const std::optional<std::vector<int64_t>>& output_shape);

// The metrics of one epoch.
class EpochMetrics {
 public:
  explicit EpochMetrics(MetricKind kind, int auc_buckets = StreamingAuc::kDefaultBuckets);

  MetricKind kind() const { return kind_; }
  // Adds one batch: the model's output and the label fed with it.
  absl::Status Update(const Tensor& output, const Tensor& label);
  void Reset();
  // ("accuracy", value) or ("auc", value) over the epoch so far; empty before any data (and for
  // AUC until both classes have been seen).
  std::vector<std::pair<std::string, double>> Values() const;

 private:
  absl::Status UpdateTwoClass(const Tensor& output, const Tensor& label);

  MetricKind kind_;
  int64_t hits_ = 0;
  int64_t count_ = 0;
  StreamingAuc auc_;
};

}  // namespace fleet
