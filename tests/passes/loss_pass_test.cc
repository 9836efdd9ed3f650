// Tests for the loss pass (passes/training/loss.cc) and the strategy it reads
// (passes/strategy.h): the appended losses computed by the executor with the CPU kernels match
// closed forms evaluated here in double; the model's own loss is used as is; bad outputs,
// labels and strategies are clear errors.
#include <cmath>
#include <random>

#include "executor/executor.h"
#include "executor/scope.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kernels/cpu/register.h"
#include "passes/pass_manager.h"
#include "passes/registry.h"
#include "passes/strategy.h"
#include "tests/passes/test_programs.h"

namespace fleet {
namespace {

using ::testing::HasSubstr;
using testing_util::ParseOrDie;

// logits = x @ w + b: batch 8, 5 features, 3 classes (the batch dim is unknown).
constexpr char kMlp[] = R"(fleet.program v1 opset=17
block 0 {
  var %x : f32[?,5] feed
  var %w : f32[5,3] feed
  var %b : f32[3] feed
  var %h : f32[?,3]
  var %logits : f32[?,3] fetch
  (Y: %h) = MatMul(A: %x, B: %w) name="fc"
  (C: %logits) = Add(A: %h, B: %b)
}
)";
constexpr int64_t kBatch = 8;
constexpr int64_t kClasses = 3;

proto::DistributedStrategy Strategy(proto::TrainingConfig::LossKind loss) {
  proto::DistributedStrategy s;
  s.set_mode(proto::DistributedStrategy::SINGLE);
  s.mutable_training()->set_loss(loss);
  return s;
}

absl::StatusOr<bool> RunLoss(Program& program, const proto::DistributedStrategy* strategy) {
  PassManager pm;
  absl::Status added = pm.AddPipeline("loss", PassRegistry::WithBuiltins());
  if (!added.ok()) return added;
  PassContext ctx;
  if (strategy != nullptr) ctx.set_strategy(*strategy);
  return pm.Run(program, ctx);
}

Tensor Uniform(const std::vector<int64_t>& shape, double lo, double hi, std::mt19937& rng) {
  Tensor t(DataType::kF32, shape);
  std::uniform_real_distribution<double> dist(lo, hi);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = static_cast<float>(dist(rng));
  return t;
}

class LossNumbersTest : public ::testing::Test {
 protected:
  void SetUp() override { RegisterCpuKernels(kernels_); }

  // Applies `loss` to the MLP, runs it on random inputs (x scaled by `x_scale`) and `label`,
  // and returns the logits and the loss the executor computed.
  void Run(proto::TrainingConfig::LossKind loss, const Tensor& label, double x_scale,
           Tensor* logits, double* value) {
    Program program = ParseOrDie(kMlp);
    proto::DistributedStrategy s = Strategy(loss);
    absl::StatusOr<bool> changed = RunLoss(program, &s);
    ASSERT_TRUE(changed.ok()) << changed.status();
    ASSERT_TRUE(*changed);
    for (const Op& op : program.main().ops) {
      if (op.name == "fc") continue;
      if (op.type == "Add" && op.InputVars()[0] == "h") continue;
      EXPECT_EQ(op.role, kRoleForward | kRoleLoss) << op.Describe();
    }
    const Var* loss_var = program.main().FindVar("loss");
    ASSERT_NE(loss_var, nullptr);
    EXPECT_TRUE(loss_var->Has(kVarFetch));
    EXPECT_TRUE(program.main().FindVar("logits")->Has(kVarFetch));
    EXPECT_TRUE(program.main().FindVar("label")->Has(kVarFeed));

    std::mt19937 rng(42);
    Scope scope;
    scope.Set("x", Uniform({kBatch, 5}, -x_scale, x_scale, rng));
    scope.Set("w", Uniform({5, kClasses}, -1, 1, rng));
    scope.Set("b", Uniform({kClasses}, -1, 1, rng));
    scope.Set("label", label);
    absl::StatusOr<std::unique_ptr<Executor>> exec = Executor::Create(program, kernels_);
    ASSERT_TRUE(exec.ok()) << exec.status();
    absl::Status ran = (*exec)->Run(scope);
    ASSERT_TRUE(ran.ok()) << ran;
    const Tensor* l = scope.Find("loss");
    ASSERT_NE(l, nullptr);
    ASSERT_EQ(l->numel(), 1);
    EXPECT_EQ(l->shape().size(), 0u);
    *value = l->data<float>()[0];
    *logits = *scope.Find("logits");
  }

  KernelTable kernels_;
};

TEST_F(LossNumbersTest, SoftmaxCrossEntropyMatchesClosedForm) {
  Tensor label(DataType::kI64, {kBatch});
  for (int64_t i = 0; i < kBatch; ++i) label.data<int64_t>()[i] = (i * 7 + 1) % kClasses;
  Tensor logits;
  double loss = 0;
  Run(proto::TrainingConfig::SOFTMAX_CE, label, 2.0, &logits, &loss);
  // mean over rows of log(sum_j exp(z_j)) - z_label
  double expected = 0;
  for (int64_t i = 0; i < kBatch; ++i) {
    const float* z = logits.data<float>() + i * kClasses;
    double sum = 0;
    for (int64_t j = 0; j < kClasses; ++j) sum += std::exp(static_cast<double>(z[j]));
    expected += std::log(sum) - z[label.data<int64_t>()[i]];
  }
  expected /= kBatch;
  EXPECT_GT(expected, 0.1);
  EXPECT_NEAR(loss, expected, 1e-5 * std::abs(expected));
}

TEST_F(LossNumbersTest, SigmoidBceMatchesClosedForm) {
  std::mt19937 rng(7);
  Tensor label = Uniform({kBatch, kClasses}, 0, 1, rng);
  for (int64_t i = 0; i < label.numel(); i += 2) label.data<float>()[i] = i % 4 == 0 ? 1 : 0;
  Tensor logits;
  double loss = 0;
  Run(proto::TrainingConfig::SIGMOID_BCE, label, 2.0, &logits, &loss);
  // mean of -(y log s(z) + (1 - y) log(1 - s(z))), s the sigmoid (logits are moderate here)
  double expected = 0;
  for (int64_t i = 0; i < logits.numel(); ++i) {
    double z = logits.data<float>()[i], y = label.data<float>()[i];
    double s = 1 / (1 + std::exp(-z));
    expected -= y * std::log(s) + (1 - y) * std::log(1 - s);
  }
  expected /= static_cast<double>(logits.numel());
  EXPECT_NEAR(loss, expected, 1e-5 * std::abs(expected));
}

TEST_F(LossNumbersTest, SigmoidBceStaysFiniteForLargeLogits) {
  Tensor label(DataType::kF32, {kBatch, kClasses});
  for (int64_t i = 0; i < label.numel(); ++i) label.data<float>()[i] = static_cast<float>(i % 2);
  Tensor logits;
  double loss = 0;
  Run(proto::TrainingConfig::SIGMOID_BCE, label, 60.0, &logits, &loss);
  // The naive form overflows here; the reference uses max(z,0) - z*y + log1p(exp(-|z|)).
  double expected = 0, max_abs = 0;
  for (int64_t i = 0; i < logits.numel(); ++i) {
    double z = logits.data<float>()[i], y = label.data<float>()[i];
    max_abs = std::max(max_abs, std::abs(z));
    expected += std::max(z, 0.0) - z * y + std::log1p(std::exp(-std::abs(z)));
  }
  expected /= static_cast<double>(logits.numel());
  EXPECT_GT(max_abs, 50);
  ASSERT_TRUE(std::isfinite(loss));
  EXPECT_NEAR(loss, expected, 1e-5 * std::abs(expected));
}

TEST_F(LossNumbersTest, MseMatchesClosedForm) {
  std::mt19937 rng(9);
  Tensor label = Uniform({kBatch, kClasses}, -3, 3, rng);
  Tensor logits;
  double loss = 0;
  Run(proto::TrainingConfig::MSE, label, 2.0, &logits, &loss);
  double expected = 0;
  for (int64_t i = 0; i < logits.numel(); ++i) {
    double d = static_cast<double>(logits.data<float>()[i]) - label.data<float>()[i];
    expected += d * d;
  }
  expected /= static_cast<double>(logits.numel());
  EXPECT_NEAR(loss, expected, 1e-5 * std::abs(expected));
}

// Must not fire: the model's own loss output.
constexpr char kOwnLoss[] = R"(fleet.program v1 opset=17
block 0 {
  var %logits : f32[?,3] feed
  var %target : i64[?] feed
  var %xent : f32[] fetch
  (output: %xent) = SoftmaxCrossEntropyLoss(scores: %logits, labels: %target) name="xent"
}
)";

TEST(LossPassTest, UsesTheModelsOwnLoss) {
  Program program = ParseOrDie(kOwnLoss);
  proto::DistributedStrategy s = Strategy(proto::TrainingConfig::MSE);
  absl::StatusOr<bool> changed = RunLoss(program, &s);
  ASSERT_TRUE(changed.ok()) << changed.status();
  EXPECT_TRUE(*changed);  // marks the op with the loss role
  ASSERT_EQ(program.main().ops.size(), 1u);
  EXPECT_EQ(program.main().ops[0].role, kRoleLoss);
  EXPECT_EQ(program.main().vars().size(), 3u);
  changed = RunLoss(program, nullptr);  // no strategy needed either
  ASSERT_TRUE(changed.ok()) << changed.status();
  EXPECT_FALSE(*changed);
}

TEST(LossPassTest, NamedLossOutputIsFetched) {
  Program program = ParseOrDie(R"(fleet.program v1 opset=17
block 0 {
  var %p : f32[?,2] feed
  var %s : f32[]
  var %out : f32[?,2] fetch
  (reduced: %s) = ReduceMean(data: %p) {keepdims = 0}
  (Y: %out) = Relu(X: %p)
}
)");
  proto::DistributedStrategy s = Strategy(proto::TrainingConfig::LOSS_UNSPECIFIED);
  s.mutable_training()->set_loss_output("s");
  absl::StatusOr<bool> changed = RunLoss(program, &s);
  ASSERT_TRUE(changed.ok()) << changed.status();
  EXPECT_TRUE(program.main().FindVar("s")->Has(kVarFetch));
  EXPECT_EQ(program.main().ops[0].role, kRoleLoss);
  EXPECT_EQ(program.main().ops.size(), 2u);

  s.mutable_training()->set_loss_output("out");
  absl::Status bad = RunLoss(program, &s).status();
  EXPECT_EQ(bad.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(bad.message(), HasSubstr("loss output 'out' is f32[?,2]; expected a "
                                       "floating-point scalar"));
}

// Runs the loss pass over `text` with `s`; returns the error.
absl::Status LossError(const std::string& text, const proto::DistributedStrategy& s) {
  Program program = ParseOrDie(text);
  absl::StatusOr<bool> changed = RunLoss(program, &s);
  EXPECT_FALSE(changed.ok());
  return changed.status();
}

TEST(LossPassTest, ErrorPaths) {
  proto::DistributedStrategy s = Strategy(proto::TrainingConfig::SOFTMAX_CE);
  s.mutable_training()->set_output("b");
  absl::Status st = LossError(kMlp, s);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(st.message(), HasSubstr("output 'b' is f32[3]; softmax_ce expects f32 or f64 "
                                      "scores of rank >= 2 [batch, classes, ...]"));

  s.mutable_training()->set_output("nope");
  EXPECT_THAT(LossError(kMlp, s).message(),
              HasSubstr("output 'nope' is not a var of the main block (--output)"));

  s.mutable_training()->clear_output();
  s.mutable_training()->set_label("x");
  EXPECT_THAT(LossError(kMlp, s).message(),
              HasSubstr("label 'x' already names a var of the model"));

  EXPECT_THAT(LossError(kMlp, Strategy(proto::TrainingConfig::LOSS_UNSPECIFIED)).message(),
              HasSubstr("the model has no loss output and the strategy names no loss"));

  Program none = ParseOrDie(kMlp);
  EXPECT_THAT(RunLoss(none, nullptr).status().message(), HasSubstr("strategy names no loss"));

  constexpr char kIntOutput[] = R"(fleet.program v1 opset=17
block 0 {
  var %a : i64[?,4] feed
  var %f : f32[?,4] feed
  var %b : i64[?,4] fetch
  var %c : f32[?,4] fetch
  (Y: %b) = Neg(X: %a)
  (Y: %c) = Relu(X: %f)
}
)";
  st = LossError(kIntOutput, Strategy(proto::TrainingConfig::MSE));
  EXPECT_THAT(st.message(), HasSubstr("the model has 2 fetch vars (b, c); name the output the "
                                      "loss is computed on (--output)"));
  proto::DistributedStrategy bce = Strategy(proto::TrainingConfig::SIGMOID_BCE);
  bce.mutable_training()->set_output("b");
  EXPECT_THAT(LossError(kIntOutput, bce).message(),
              HasSubstr("output 'b' is i64[?,4]; sigmoid_bce expects an f32 or f64 tensor"));
}

TEST(StrategyTest, TextErrorsNameFileLineAndColumn) {
  absl::StatusOr<proto::DistributedStrategy> s =
      ParseStrategyText("mode: SINGLE\ntraining { loss: L1 }\n", "s.pbtxt");
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(
      s.status().message(),
      HasSubstr("s.pbtxt:2:21: error: Unknown enumeration value of \"L1\" for field \"loss\""));

  s = ParseStrategyText("training {\n  lr: -1\n}\n", "s.pbtxt");
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.status().message(),
              HasSubstr("s.pbtxt:2:3: error: learning rate -1 is invalid; expected a number >= 0"));

  s = ParseStrategyText("nonsense: 1", "s.pbtxt");
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.status().message(),
              HasSubstr("s.pbtxt:1:9: error: Message type \"fleet.proto.DistributedStrategy\" has "
                        "no field named \"nonsense\""));
}

TEST(StrategyTest, RecordRoundTripsAndNamesParse) {
  absl::StatusOr<proto::DistributedStrategy> s = ParseStrategyText(
      "mode: SINGLE training { label: \"y\" loss: MSE optimizer: \"adam\" lr: 0.001 }", "s");
  ASSERT_TRUE(s.ok()) << s.status();
  Program program;
  RecordStrategy(*s, program);
  EXPECT_EQ(program.meta.strategy, "single");
  absl::StatusOr<std::optional<proto::DistributedStrategy>> back = RecordedStrategy(program);
  ASSERT_TRUE(back.ok()) << back.status();
  ASSERT_TRUE(back->has_value());
  EXPECT_EQ((*back)->training().label(), "y");
  EXPECT_EQ((*back)->training().loss(), proto::TrainingConfig::MSE);
  EXPECT_EQ((*back)->training().lr(), 0.001);
  EXPECT_FALSE(RecordedStrategy(Program())->has_value());

  EXPECT_EQ(*ParseLossKindName("sigmoid_bce"), proto::TrainingConfig::SIGMOID_BCE);
  EXPECT_THAT(ParseLossKindName("hinge").status().message(),
              HasSubstr("unknown loss 'hinge'; expected one of softmax_ce, sigmoid_bce, mse"));
  EXPECT_EQ(*ParseModeName("localsgd"), proto::DistributedStrategy::LOCALSGD);
  EXPECT_EQ(*StrategyPipeline(*s), "loss,autodiff,optimizer,startup");
  proto::DistributedStrategy ps;
  ps.set_mode(proto::DistributedStrategy::PS);
  EXPECT_EQ(*StrategyPipeline(ps), "loss,autodiff,optimizer,startup,ps-split");
  proto::DistributedStrategy amp;
  amp.set_mode(proto::DistributedStrategy::COLLECTIVE);
  amp.mutable_amp()->set_dtype(proto::AmpConfig::FP16);
  EXPECT_EQ(*StrategyPipeline(amp), "loss,autodiff,optimizer,amp,startup,allreduce");
  proto::DistributedStrategy unknown;
  unknown.set_mode(static_cast<proto::DistributedStrategy::Mode>(42));
  EXPECT_EQ(StrategyPipeline(unknown).status().code(), absl::StatusCode::kUnimplemented);
}

}  // namespace
}  // namespace fleet
