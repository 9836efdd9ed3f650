// BatchNormalization's training form (the rewrite, the running statistics) and finite-difference
// checks of the fleet.batch_norm_train and LayerNormalization rules.
#include <cmath>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "passes/training/train_mode.h"
#include "tests/grad/grad_check.h"

namespace fleet {
namespace {

using testing_util::ExpectGradientsMatch;
using testing_util::GradCheckOptions;

TensorValue F64(std::vector<int64_t> shape, const std::vector<double>& data) {
  TensorValue v;
  v.dtype = DataType::kF64;
  v.shape = std::move(shape);
  v.bytes.assign(reinterpret_cast<const char*>(data.data()), data.size() * sizeof(double));
  return v;
}

// Running statistics for the training-form checks (the var must stay positive).
GradCheckOptions WithRunningStats(int channels) {
  GradCheckOptions opts;
  opts.values["rm"] = F64({channels}, std::vector<double>(channels, 0.25));
  opts.values["rv"] = F64({channels}, std::vector<double>(channels, 1.5));
  return opts;
}

TEST(BatchNormGrad, TrainingFormThroughBatchStatistics) {
  ExpectGradientsMatch(R"(fleet.program v1 opset=17
block 0 {
  var %x : f64[3,2,2,2] parameter
  var %s : f64[2] parameter
  var %b : f64[2] parameter
  var %rm : f64[2] persistable
  var %rv : f64[2] persistable
  var %sm : f64[2]
  var %si : f64[2]
  var %y : f64[3,2,2,2] fetch
  (Y: %y, RunningMeanOut: %rm, RunningVarOut: %rv, SavedMean: %sm, SavedInvStd: %si) = fleet.batch_norm_train(X: %x, Scale: %s, B: %b, RunningMean: %rm, RunningVar: %rv) {epsilon = 0.001}
})",
                       WithRunningStats(2));
}

TEST(BatchNormGrad, TrainingFormAfterConvOnRankTwoInput) {
  // Conv -> BN (the ResNet block's pattern), then BN over a [N, C] input.
  ExpectGradientsMatch(R"(fleet.program v1 opset=17
block 0 {
  var %x : f64[2,2,4,4] parameter
  var %w : f64[3,2,3,3] parameter
  var %s : f64[3] parameter
  var %b : f64[3] parameter
  var %rm : f64[3] persistable
  var %rv : f64[3] persistable
  var %c : f64[2,3,2,2]
  var %sm : f64[3]
  var %si : f64[3]
  var %y : f64[2,3,2,2] fetch
  (Y: %c) = Conv(X: %x, W: %w)
  (Y: %y, RunningMeanOut: %rm, RunningVarOut: %rv, SavedMean: %sm, SavedInvStd: %si) = fleet.batch_norm_train(X: %c, Scale: %s, B: %b, RunningMean: %rm, RunningVar: %rv)
})",
                       WithRunningStats(3));
  ExpectGradientsMatch(R"(fleet.program v1 opset=17
block 0 {
  var %x : f64[5,3] parameter
  var %s : f64[3] parameter
  var %b : f64[3] parameter
  var %rm : f64[3] persistable
  var %rv : f64[3] persistable
  var %sm : f64[3]
  var %si : f64[3]
  var %y : f64[5,3] fetch
  (Y: %y, RunningMeanOut: %rm, RunningVarOut: %rv, SavedMean: %sm, SavedInvStd: %si) = fleet.batch_norm_train(X: %x, Scale: %s, B: %b, RunningMean: %rm, RunningVar: %rv)
})",
                       WithRunningStats(3));
}

constexpr char kInferenceBatchNorm[] = R"(fleet.program v1 opset=17
block 0 {
  var %x : f64[4,2,3] feed
  var %s : f64[2] persistable
  var %b : f64[2] persistable
  var %rm : f64[2] persistable
  var %rv : f64[2] persistable
  var %y : f64[4,2,3] fetch
  (Y: %y) = BatchNormalization(X: %x, scale: %s, B: %b, input_mean: %rm, input_var: %rv) {epsilon = 0.001, momentum = 0.75}
})";

TEST(BatchNormTrainMode, RewriteUsesBatchStatisticsAndUpdatesRunningStatsLikeTorch) {
  absl::StatusOr<Program> parsed = ParseProgramText(kInferenceBatchNorm, "bn.txt");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  Program program = *std::move(parsed);
  PassContext ctx;
  ASSERT_TRUE(RewriteForTraining(program, ctx).ok());
  ASSERT_EQ(program.main().ops.size(), 1u);
  const Op& op = program.main().ops[0];
  EXPECT_EQ(op.type, "fleet.batch_norm_train");
  EXPECT_EQ(op.FindOutput("RunningMeanOut")->vars[0], "rm");
  EXPECT_EQ(op.FindOutput("RunningVarOut")->vars[0], "rv");

  std::mt19937_64 rng(7);
  std::map<std::string, TensorValue> inputs;
  inputs["x"] = testing_util::RandomF64({4, 2, 3}, -2.0, 3.0, rng);
  inputs["s"] = F64({2}, {1.5, -0.5});
  inputs["b"] = F64({2}, {0.1, 0.2});
  inputs["rm"] = F64({2}, {0.3, -0.4});
  inputs["rv"] = F64({2}, {2.0, 0.5});
  std::map<std::string, Tensor> out = testing_util::RunForCheck(program, inputs, {"y", "rm", "rv"});
  ASSERT_EQ(out.size(), 3u);
  const double* x = reinterpret_cast<const double*>(inputs["x"].bytes.data());
  const double scale[2] = {1.5, -0.5}, bias[2] = {0.1, 0.2};
  const double rm[2] = {0.3, -0.4}, rv[2] = {2.0, 0.5};
  for (int c = 0; c < 2; ++c) {
    double mean = 0, sq = 0;
    for (int n = 0; n < 4; ++n) {
      for (int i = 0; i < 3; ++i) mean += x[(n * 2 + c) * 3 + i] / 12;
    }
    for (int n = 0; n < 4; ++n) {
      for (int i = 0; i < 3; ++i) sq += std::pow(x[(n * 2 + c) * 3 + i] - mean, 2);
    }
    // torch.nn.BatchNorm1d(momentum=0.25): running = 0.75 * running + 0.25 * batch, unbiased var.
    EXPECT_NEAR(out["rm"].data<double>()[c], 0.75 * rm[c] + 0.25 * mean, 1e-12);
    EXPECT_NEAR(out["rv"].data<double>()[c], 0.75 * rv[c] + 0.25 * sq / 11, 1e-12);
    for (int n = 0; n < 4; ++n) {
      for (int i = 0; i < 3; ++i) {
        const int at = (n * 2 + c) * 3 + i;
        EXPECT_NEAR(out["y"].data<double>()[at],
                    (x[at] - mean) / std::sqrt(sq / 12 + 0.001f) * scale[c] + bias[c], 1e-9);
      }
    }
  }
}

TEST(BatchNormTrainMode, RunningStatisticMustBePersistable) {
  std::string text = kInferenceBatchNorm;
  text.replace(text.find("%rv : f64[2] persistable"), 24, "%rv : f64[2] feed");
  absl::StatusOr<Program> parsed = ParseProgramText(text, "bn.txt");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  PassContext ctx;
  absl::Status s = RewriteForTraining(*parsed, ctx);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("'rv' is not a persistable var"), std::string::npos) << s;
}

TEST(BatchNormTrainMode, AutodiffTrainsThroughTheRewrittenBatchNorm) {
  absl::StatusOr<Program> parsed = ParseProgramText(R"(fleet.program v1 opset=17
block 0 {
  var %x : f64[2,2,4,4] feed
  var %w : f64[3,2,3,3] parameter
  var %s : f64[3] parameter
  var %b : f64[3] parameter
  var %rm : f64[3] persistable parameter
  var %rv : f64[3] persistable parameter
  var %c : f64[2,3,2,2]
  var %y : f64[2,3,2,2] fetch
  (Y: %c) = Conv(X: %x, W: %w)
  (Y: %y) = BatchNormalization(X: %c, scale: %s, B: %b, input_mean: %rm, input_var: %rv)
})",
                                                    "bn.txt");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  Program program = *std::move(parsed);
  std::mt19937_64 rng(3);
  std::map<std::string, TensorValue> inputs;
  for (const char* name : {"x", "w", "s", "b"}) {
    inputs[name] = testing_util::RandomF64(*program.main().FindVar(name)->shape, -1, 1, rng);
  }
  inputs["rm"] = F64({3}, {0.0, 0.0, 0.0});
  inputs["rv"] = F64({3}, {1.0, 1.0, 1.0});
  testing_util::AppendWeightedSumLoss(program, inputs, rng);
  PassContext ctx;
  absl::StatusOr<bool> ran = CreateAutodiffPass()->Run(program, ctx);
  ASSERT_TRUE(ran.ok()) << ran.status();
  std::set<std::string> types;
  for (const Op& op : program.main().ops) types.insert(op.type);
  EXPECT_FALSE(types.count("BatchNormalization"));
  for (const char* type :
       {"fleet.batch_norm_train", "fleet.batch_norm_grad", "fleet.conv_grad_filter"}) {
    EXPECT_TRUE(types.count(type)) << type;
  }
  EXPECT_FALSE(types.count("fleet.conv_grad_input")) << "x is a feed; it needs no gradient";
  for (const char* v : {"w", "s", "b"}) {
    EXPECT_TRUE(program.main().FindVar(v)->Has(kVarTrainable)) << v;
    program.main().FindVar(GradVarName(v))->flags |= kVarFetch;
  }
  EXPECT_FALSE(program.main().FindVar("rm")->Has(kVarTrainable));
  EXPECT_FALSE(program.main().FindVar("rv")->Has(kVarTrainable));
  std::map<std::string, Tensor> out =
      testing_util::RunForCheck(program, inputs, {"w@GRAD", "s@GRAD", "rm", "rv"});
  ASSERT_EQ(out.size(), 4u);
  // Imported running statistics are float initializers (parameters), yet receive no gradient;
  // one step moves them from (0, 1).
  for (int c = 0; c < 3; ++c) {
    EXPECT_NE(out["rm"].data<double>()[c], 0.0);
    EXPECT_NE(out["rv"].data<double>()[c], 1.0);
  }
}

TEST(LayerNormGrad, LastAxis) {
  ExpectGradientsMatch(R"(fleet.program v1 opset=17
block 0 {
  var %x : f64[3,5] parameter
  var %s : f64[5] parameter
  var %b : f64[5] parameter
  var %y : f64[3,5] fetch
  (Y: %y) = LayerNormalization(X: %x, Scale: %s, B: %b) {axis = -1, epsilon = 0.01}
})");
}

TEST(LayerNormGrad, AxisOneOverTwoDims) {
  ExpectGradientsMatch(R"(fleet.program v1 opset=17
block 0 {
  var %x : f64[2,3,4] parameter
  var %s : f64[3,4] parameter
  var %b : f64[3,4] parameter
  var %y : f64[2,3,4] fetch
  (Y: %y) = LayerNormalization(X: %x, Scale: %s, B: %b) {axis = 1}
})");
}

TEST(LayerNormGrad, BroadcastScaleWithoutBias) {
  ExpectGradientsMatch(R"(fleet.program v1 opset=17
block 0 {
  var %x : f64[2,3,4] parameter
  var %s : f64[4] parameter
  var %y : f64[2,3,4] fetch
  (Y: %y) = LayerNormalization(X: %x, Scale: %s) {axis = 1}
})");
}

}  // namespace
}  // namespace fleet
