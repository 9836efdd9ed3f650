// Accuracy and streaming AUC for the training loop.
#include "executor/training/metrics.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "ir/status_macros.h"

namespace fleet {

StreamingAuc::StreamingAuc(int num_buckets)
    : positive_(static_cast<size_t>(std::max(num_buckets, 1)), 0),
      negative_(static_cast<size_t>(std::max(num_buckets, 1)), 0) {}

void StreamingAuc::Add(double probability, bool positive) {
  const int64_t n = static_cast<int64_t>(positive_.size());
  double p = std::isnan(probability) ? 0.0 : std::clamp(probability, 0.0, 1.0);
  const int64_t bucket = std::min<int64_t>(n - 1, static_cast<int64_t>(p * static_cast<double>(n)));
  if (positive) {
    ++positive_[static_cast<size_t>(bucket)];
    ++num_positive_;
  } else {
    ++negative_[static_cast<size_t>(bucket)];
    ++num_negative_;
  }
}

std::optional<double> StreamingAuc::Value() const {
  if (num_positive_ == 0 || num_negative_ == 0) return std::nullopt;
  // Walk the thresholds from the top bucket down: each bucket adds a trapezoid under the ROC
  // curve (false positives on x, true positives on y), so ties within a bucket count half.
  double area = 0;
  double tp = 0, fp = 0;
  for (size_t i = positive_.size(); i-- > 0;) {
    const double tp_next = tp + static_cast<double>(positive_[i]);
    const double fp_next = fp + static_cast<double>(negative_[i]);
    area += (fp_next - fp) * (tp + tp_next) / 2;
    tp = tp_next;
    fp = fp_next;
  }
  return area / (static_cast<double>(num_positive_) * static_cast<double>(num_negative_));
}

void StreamingAuc::Reset() {
  std::fill(positive_.begin(), positive_.end(), 0);
  std::fill(negative_.begin(), negative_.end(), 0);
  num_positive_ = num_negative_ = 0;
}

namespace {

template <typename S, typename L>
void CountHits(const S* scores, const L* labels, int64_t n, int64_t c, int64_t inner,
               int64_t* hits) {
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t k = 0; k < inner; ++k) {
      const S* row = scores + i * c * inner + k;
      int64_t best = 0;
      for (int64_t j = 1; j < c; ++j) {
        if (row[j * inner] > row[best * inner]) best = j;
      }
      if (static_cast<int64_t>(labels[i * inner + k]) == best) ++*hits;
    }
  }
}

template <typename S>
absl::Status CountHitsTyped(const Tensor& scores, const Tensor& labels, int64_t n, int64_t c,
                            int64_t inner, int64_t* hits) {
  if (labels.dtype() == DataType::kI64) {
    CountHits(scores.data<S>(), labels.data<int64_t>(), n, c, inner, hits);
  } else if (labels.dtype() == DataType::kI32) {
    CountHits(scores.data<S>(), labels.data<int32_t>(), n, c, inner, hits);
  } else {
    return absl::InvalidArgumentError(absl::StrCat("accuracy: the label is ", labels.TypeString(),
                                                   "; expected i64 or i32 class ids"));
  }
  return absl::OkStatus();
}

double Sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

}  // namespace

absl::Status CountArgmaxHits(const Tensor& scores, const Tensor& labels, int64_t* hits,
                             int64_t* count) {
  bool shapes_match =
      scores.rank() >= 2 && labels.rank() == scores.rank() - 1 && labels.dim(0) == scores.dim(0);
  for (int i = 1; shapes_match && i < labels.rank(); ++i) {
    shapes_match = labels.dim(i) == scores.dim(i + 1);
  }
  if (!shapes_match) {
    return absl::InvalidArgumentError(
        absl::StrCat("accuracy: the output is ", scores.TypeString(), " and the label ",
                     labels.TypeString(), "; expected scores [N, C, ...] and labels [N, ...]"));
  }
  const int64_t n = scores.dim(0), c = scores.dim(1);
  const int64_t inner = n * c == 0 ? 0 : scores.numel() / (n * c);
  if (c == 0) return absl::OkStatus();
  if (scores.dtype() == DataType::kF32) {
    if (auto s = CountHitsTyped<float>(scores, labels, n, c, inner, hits); !s.ok()) return s;
  } else if (scores.dtype() == DataType::kF64) {
    if (auto s = CountHitsTyped<double>(scores, labels, n, c, inner, hits); !s.ok()) return s;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("accuracy: the output is ", scores.TypeString(), "; expected f32 or f64"));
  }
  *count += n * inner;
  return absl::OkStatus();
}

MetricKind ChooseMetricKind(const std::string& loss_kind,
                            const std::optional<std::vector<int64_t>>& output_shape) {
  if (loss_kind == "softmax_ce") {
    const bool two_classes = output_shape.has_value() && output_shape->size() == 2 &&
                             (*output_shape)[1] == 2;
    return two_classes ? MetricKind::kAccuracyAuc : MetricKind::kAccuracy;
  }
  if (loss_kind != "sigmoid_bce") return MetricKind::kNone;
  if (!output_shape.has_value()) return MetricKind::kAuc;
  const std::vector<int64_t>& s = *output_shape;
  if (s.size() == 1 || (s.size() == 2 && s[1] == 1)) return MetricKind::kAuc;
  return MetricKind::kNone;
}

EpochMetrics::EpochMetrics(MetricKind kind, int auc_buckets) : kind_(kind), auc_(auc_buckets) {}

absl::Status EpochMetrics::Update(const Tensor& output, const Tensor& label) {
  switch (kind_) {
    case MetricKind::kNone:
      return absl::OkStatus();
    case MetricKind::kAccuracy:
      return CountArgmaxHits(output, label, &hits_, &count_);
    case MetricKind::kAccuracyAuc:
      return UpdateTwoClass(output, label);
    case MetricKind::kAuc:
      break;
  }
  const bool one_column = output.rank() == 1 || (output.rank() == 2 && output.dim(1) == 1);
  if (!one_column || output.numel() != label.numel() ||
      (output.dtype() != DataType::kF32 && output.dtype() != DataType::kF64) ||
      (label.dtype() != DataType::kF32 && label.dtype() != DataType::kF64)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "auc: the output is ", output.TypeString(), " and the label ", label.TypeString(),
        "; expected one float logit and one 0/1 label per record"));
  }
  for (int64_t i = 0; i < output.numel(); ++i) {
    const double logit =
        output.dtype() == DataType::kF32 ? output.data<float>()[i] : output.data<double>()[i];
    const double y =
        label.dtype() == DataType::kF32 ? label.data<float>()[i] : label.data<double>()[i];
    auc_.Add(Sigmoid(logit), y > 0.5);
  }
  return absl::OkStatus();
}

absl::Status EpochMetrics::UpdateTwoClass(const Tensor& output, const Tensor& label) {
  FLEET_RETURN_IF_ERROR(CountArgmaxHits(output, label, &hits_, &count_));
  if (output.rank() != 2 || output.dim(1) != 2 || output.dim(0) != label.numel() ||
      (output.dtype() != DataType::kF32 && output.dtype() != DataType::kF64) ||
      (label.dtype() != DataType::kI64 && label.dtype() != DataType::kI32)) {
    return absl::InvalidArgumentError(
        absl::StrCat("auc: the output is ", output.TypeString(), " and the label ",
                     label.TypeString(), "; expected [N, 2] scores and N integer labels"));
  }
  for (int64_t i = 0; i < label.numel(); ++i) {
    const double s0 = output.dtype() == DataType::kF32 ? output.data<float>()[2 * i]
                                                       : output.data<double>()[2 * i];
    const double s1 = output.dtype() == DataType::kF32 ? output.data<float>()[2 * i + 1]
                                                       : output.data<double>()[2 * i + 1];
    const int64_t y =
        label.dtype() == DataType::kI64 ? label.data<int64_t>()[i] : label.data<int32_t>()[i];
    auc_.Add(Sigmoid(s1 - s0), y == 1);
  }
  return absl::OkStatus();
}

void EpochMetrics::Reset() {
  hits_ = count_ = 0;
  auc_.Reset();
}

std::vector<std::pair<std::string, double>> EpochMetrics::Values() const {
  std::vector<std::pair<std::string, double>> out;
  if ((kind_ == MetricKind::kAccuracy || kind_ == MetricKind::kAccuracyAuc) && count_ > 0) {
    out.emplace_back("accuracy", static_cast<double>(hits_) / static_cast<double>(count_));
  }
  if (kind_ == MetricKind::kAuc || kind_ == MetricKind::kAccuracyAuc) {
    if (std::optional<double> auc = auc_.Value()) out.emplace_back("auc", *auc);
  }
  return out;
}

}  // namespace fleet
