// Training metrics: the streaming AUC against an exact, sort-based AUC (Mann-Whitney U with
// ties counted half), and accuracy against hand-counted argmax hits.
#include "executor/training/metrics.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fleet {
namespace {

using ::testing::HasSubstr;

// The exact AUC: the fraction of (positive, negative) pairs ranked correctly, ties half, by
// sorting the scores and summing the ranks of the positives (average ranks for ties).
double ExactAuc(const std::vector<double>& scores, const std::vector<bool>& positive) {
  std::vector<size_t> order(scores.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return scores[a] < scores[b]; });
  double rank_sum = 0;
  double num_pos = 0, num_neg = 0;
  for (size_t i = 0; i < order.size();) {
    size_t j = i;
    while (j < order.size() && scores[order[j]] == scores[order[i]]) ++j;
    const double average_rank = (static_cast<double>(i + 1) + static_cast<double>(j)) / 2;
    for (size_t k = i; k < j; ++k) {
      if (positive[order[k]]) rank_sum += average_rank;
    }
    i = j;
  }
  for (bool p : positive) (p ? num_pos : num_neg) += 1;
  return (rank_sum - num_pos * (num_pos + 1) / 2) / (num_pos * num_neg);
}

TEST(StreamingAucTest, MatchesTheExactAucOnNoisyScores) {
  std::mt19937_64 rng(7);
  std::normal_distribution<double> noise(0.0, 1.0);
  std::bernoulli_distribution click(0.3);
  std::vector<double> probs;
  std::vector<bool> labels;
  StreamingAuc auc;
  for (int i = 0; i < 20000; ++i) {
    const bool y = click(rng);
    const double logit = (y ? 0.8 : -0.2) + noise(rng);
    probs.push_back(1 / (1 + std::exp(-logit)));
    labels.push_back(y);
    auc.Add(probs.back(), y);
  }
  const double exact = ExactAuc(probs, labels);
  ASSERT_TRUE(auc.Value().has_value());
  EXPECT_GT(exact, 0.6);  // the data carry signal, so the comparison means something
  EXPECT_NEAR(*auc.Value(), exact, 2e-4);
  EXPECT_EQ(auc.num_positive() + auc.num_negative(), 20000);
}

TEST(StreamingAucTest, IsExactWhenEveryScoreHasItsOwnBucketAndCountsTiesHalf) {
  // Scores on bucket centres of 4 buckets: no two distinct scores share a bucket.
  std::vector<double> probs = {0.125, 0.375, 0.625, 0.875, 0.375, 0.625, 0.125};
  std::vector<bool> labels = {false, true, false, true, false, true, true};
  StreamingAuc auc(4);
  for (size_t i = 0; i < probs.size(); ++i) auc.Add(probs[i], labels[i]);
  EXPECT_DOUBLE_EQ(*auc.Value(), ExactAuc(probs, labels));

  StreamingAuc perfect(16), reversed(16);
  for (double p : {0.1, 0.2, 0.3}) perfect.Add(p, false), reversed.Add(p, true);
  for (double p : {0.7, 0.8}) perfect.Add(p, true), reversed.Add(p, false);
  EXPECT_DOUBLE_EQ(*perfect.Value(), 1.0);
  EXPECT_DOUBLE_EQ(*reversed.Value(), 0.0);
}

TEST(StreamingAucTest, UndefinedUntilBothClassesAreSeenAndResets) {
  StreamingAuc auc;
  EXPECT_FALSE(auc.Value().has_value());
  auc.Add(0.9, true);
  EXPECT_FALSE(auc.Value().has_value());
  auc.Add(0.1, false);
  EXPECT_DOUBLE_EQ(*auc.Value(), 1.0);
  auc.Reset();
  EXPECT_FALSE(auc.Value().has_value());
  auc.Add(std::nan(""), false);  // NaN and out-of-range scores are clamped, not out of bounds
  auc.Add(7.0, true);
  EXPECT_DOUBLE_EQ(*auc.Value(), 1.0);
}

Tensor F32(std::vector<int64_t> shape, std::vector<float> v) {
  Tensor t(DataType::kF32, std::move(shape));
  std::copy(v.begin(), v.end(), t.data<float>());
  return t;
}

Tensor I64(std::vector<int64_t> shape, std::vector<int64_t> v) {
  Tensor t(DataType::kI64, std::move(shape));
  std::copy(v.begin(), v.end(), t.data<int64_t>());
  return t;
}

TEST(AccuracyTest, CountsArgmaxHitsOverTheClassAxis) {
  // argmax per row: 2, 0, 1, 1.
  Tensor scores = F32({4, 3}, {0, 1, 5, 9, 2, 3, -1, 0, -2, 0, 4, 4});
  int64_t hits = 0, count = 0;
  ASSERT_TRUE(CountArgmaxHits(scores, I64({4}, {2, 0, 0, 1}), &hits, &count).ok());
  EXPECT_EQ(hits, 3);
  EXPECT_EQ(count, 4);
  // [N, C, d]: the class axis is 1, not the last one. Rows: n0 d0 -> {0,2} argmax 1; n0 d1 ->
  // {1,0} argmax 0.
  Tensor spatial = F32({1, 2, 2}, {0, 1, 2, 0});
  hits = count = 0;
  ASSERT_TRUE(CountArgmaxHits(spatial, I64({1, 2}, {1, 0}), &hits, &count).ok());
  EXPECT_EQ(hits, 2);
  EXPECT_EQ(count, 2);
  // Labels outside [0, C) never hit.
  hits = count = 0;
  ASSERT_TRUE(CountArgmaxHits(scores, I64({4}, {-1, 7, 9, 1}), &hits, &count).ok());
  EXPECT_EQ(hits, 1);
}

TEST(AccuracyTest, MismatchedShapesAndDtypesAreErrors) {
  int64_t hits = 0, count = 0;
  absl::Status s =
      CountArgmaxHits(F32({4, 3}, std::vector<float>(12)), I64({3}, {0, 0, 0}), &hits, &count);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("f32[4,3]"));
  s = CountArgmaxHits(F32({2, 2}, {0, 1, 1, 0}), F32({2}, {1, 0}), &hits, &count);
  EXPECT_THAT(std::string(s.message()), HasSubstr("expected i64 or i32 class ids"));
}

TEST(EpochMetricsTest, PicksTheMetricFromTheLossAndAccumulatesOverTheEpoch) {
  EXPECT_EQ(ChooseMetricKind("softmax_ce", std::vector<int64_t>{-1, 10}), MetricKind::kAccuracy);
  EXPECT_EQ(ChooseMetricKind("sigmoid_bce", std::vector<int64_t>{-1, 1}), MetricKind::kAuc);
  EXPECT_EQ(ChooseMetricKind("sigmoid_bce", std::vector<int64_t>{-1, 5}), MetricKind::kNone);
  EXPECT_EQ(ChooseMetricKind("mse", std::vector<int64_t>{-1, 1}), MetricKind::kNone);

  EpochMetrics accuracy(MetricKind::kAccuracy);
  EXPECT_TRUE(accuracy.Values().empty());
  ASSERT_TRUE(accuracy.Update(F32({2, 2}, {0, 1, 1, 0}), I64({2}, {1, 1})).ok());
  ASSERT_TRUE(accuracy.Update(F32({2, 2}, {0, 1, 1, 0}), I64({2}, {1, 0})).ok());
  ASSERT_EQ(accuracy.Values().size(), 1u);
  EXPECT_EQ(accuracy.Values()[0].first, "accuracy");
  EXPECT_DOUBLE_EQ(accuracy.Values()[0].second, 0.75);
  accuracy.Reset();
  EXPECT_TRUE(accuracy.Values().empty());

  // AUC takes logits: sigmoid is monotonic, so logits ranked like the labels give AUC 1.
  EpochMetrics auc(MetricKind::kAuc);
  ASSERT_TRUE(auc.Update(F32({3, 1}, {-3, 2, 0.5f}), F32({3, 1}, {0, 1, 1})).ok());
  ASSERT_EQ(auc.Values().size(), 1u);
  EXPECT_EQ(auc.Values()[0].first, "auc");
  EXPECT_DOUBLE_EQ(auc.Values()[0].second, 1.0);
  EXPECT_FALSE(auc.Update(F32({2, 2}, {0, 0, 0, 0}), F32({2, 2}, {0, 0, 0, 0})).ok());
}

TEST(EpochMetricsTest, TwoClassScoresGiveAccuracyAndTheAucOfClassOne) {
  EXPECT_EQ(ChooseMetricKind("softmax_ce", std::vector<int64_t>{-1, 2}),
            MetricKind::kAccuracyAuc);
  // P(class 1) ranks by s1 - s0: 0.5, -2, 1, -0.5 against labels 1, 0, 0, 1.
  std::vector<double> margin = {0.5, -2, 1, -0.5};
  std::vector<bool> positive = {true, false, false, true};
  EpochMetrics m(MetricKind::kAccuracyAuc, /*auc_buckets=*/1 << 16);
  ASSERT_TRUE(m.Update(F32({4, 2}, {0, 0.5f, 1, -1, -1, 0, 0.5f, 0}), I64({4}, {1, 0, 0, 1})).ok());
  std::vector<std::pair<std::string, double>> v = m.Values();
  ASSERT_EQ(v.size(), 2u);
  EXPECT_EQ(v[0].first, "accuracy");
  EXPECT_DOUBLE_EQ(v[0].second, 0.5);  // argmax right for records 0 and 1
  EXPECT_EQ(v[1].first, "auc");
  EXPECT_NEAR(v[1].second, ExactAuc(margin, positive), 1e-9);
  EXPECT_FALSE(m.Update(F32({2, 2}, {0, 0, 0, 0}), F32({2}, {0, 1})).ok());
}

}  // namespace
}  // namespace fleet
