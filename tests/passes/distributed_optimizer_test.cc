// DistributedOptimizer (passes/distributed_optimizer.h): Minimize writes the job the strategy's
// pipeline writes (the programs fleet-transpile would), the same on every call, each program
// recording the strategy with the optimizer config as its training; the trained single-machine
// program takes the step of the closed form, so the optimizer config reaches the passes; and bad
// configs fail naming the field, conflicting trainings and failing passes naming the cause.
#include "passes/distributed_optimizer.h"

#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include "executor/executor.h"
#include "executor/scope.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "ir/status_macros.h"
#include "ir/text_format.h"
#include "ir/verify.h"
#include "kernels/cpu/register.h"
#include "passes/pass_manager.h"
#include "passes/registry.h"
#include "passes/strategy.h"
#include "tests/passes/test_programs.h"

namespace fleet {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing_util::ParseOrDie;

// y = x . w: a linear model without a loss, as a user's ONNX model comes in.
constexpr char kLinear[] = R"(fleet.program v1 opset=17
block 0 {
  var %x : f32[?,3] feed
  var %w : f32[3,2] persistable parameter init
  var %y : f32[?,2] fetch
  (Y: %y) = MatMul(A: %x, B: %w) name="fc"
}
)";

const std::vector<float> kW = {0.5f, -0.25f, 0.1f, 0.3f, -0.4f, 0.2f};

Program LinearModel() {
  Program model = ParseOrDie(kLinear);
  TensorValue& w = model.values["w"];
  w.dtype = DataType::kF32;
  w.shape = {3, 2};
  w.bytes.assign(reinterpret_cast<const char*>(kW.data()), kW.size() * sizeof(float));
  return model;
}

proto::TrainingConfig Optimizer(const std::string& name, double lr) {
  proto::TrainingConfig t;
  t.set_optimizer(name);
  t.set_lr(lr);
  t.set_loss(proto::TrainingConfig::MSE);
  return t;
}

proto::DistributedStrategy Ps(int servers) {
  proto::DistributedStrategy s;
  s.set_mode(proto::DistributedStrategy::PS);
  s.mutable_ps()->set_servers(servers);
  s.mutable_ps()->set_min_block_size(2);  // cut w into blocks over the servers
  return s;
}

std::vector<std::string> Names(const Job& job) {
  std::vector<std::string> names;
  for (const auto& [name, program] : job.programs) names.push_back(name);
  return names;
}

TEST(DistributedOptimizerTest, PsJobIsThePipelinesJobWithTheStrategyRecorded) {
  const DistributedOptimizer optimizer(Optimizer("adam", 0.01), Ps(2));
  absl::StatusOr<Job> job = optimizer.Minimize(LinearModel());
  ASSERT_TRUE(job.ok()) << job.status();
  EXPECT_THAT(Names(*job), ElementsAre("main", "pserver.0", "pserver.0.startup", "pserver.1",
                                       "pserver.1.startup", "startup"));

  // What fleet-transpile runs for the same strategy, spelt out.
  proto::DistributedStrategy strategy = Ps(2);
  *strategy.mutable_training() = Optimizer("adam", 0.01);
  Job by_hand(LinearModel());
  PassManager passes;
  absl::StatusOr<std::string> pipeline = StrategyPipeline(strategy);
  ASSERT_TRUE(pipeline.ok()) << pipeline.status();
  ASSERT_TRUE(passes.AddPipeline(*pipeline, PassRegistry::WithBuiltins()).ok());
  PassContext context;
  context.set_strategy(strategy);
  ASSERT_TRUE(passes.Run(by_hand, context).ok());
  RecordStrategy(strategy, by_hand);
  ASSERT_EQ(Names(by_hand), Names(*job));

  // Every process calls Minimize on its own: a second call must give the same programs.
  absl::StatusOr<Job> again = optimizer.Minimize(LinearModel());
  ASSERT_TRUE(again.ok()) << again.status();
  for (const auto& [name, program] : job->programs) {
    EXPECT_TRUE(Verify(program).ok()) << name;
    EXPECT_EQ(PrintProgram(program), PrintProgram(by_hand.programs.at(name))) << name;
    EXPECT_EQ(PrintProgram(program), PrintProgram(again->programs.at(name))) << name;
    absl::StatusOr<std::optional<proto::DistributedStrategy>> recorded = RecordedStrategy(program);
    ASSERT_TRUE(recorded.ok() && recorded->has_value()) << name;
    EXPECT_EQ((*recorded)->training().optimizer(), "adam") << name;
    EXPECT_EQ((*recorded)->ps().servers(), 2) << name;
  }
  EXPECT_EQ(optimizer.strategy().training().optimizer(), "adam");
}

// One step of the single-machine job: w' = w - lr * dL/dw with L = mean((x w - t)^2) over all
// N x 2 elements, so dL/dw = 2 / (2N) * x^T (x w - t), computed here in double.
TEST(DistributedOptimizerTest, SingleJobTakesTheClosedFormStep) {
  constexpr double kLr = 0.1;
  absl::StatusOr<Job> job =
      DistributedOptimizer(Optimizer("sgd", kLr), proto::DistributedStrategy())
          .Minimize(LinearModel());
  ASSERT_TRUE(job.ok()) << job.status();
  ASSERT_NE(job->Find(kStartupProgram), nullptr);
  KernelTable kernels;
  RegisterCpuKernels(kernels);
  Scope scope;
  Program& main = job->main();
  MoveValuesIntoScope(main, scope);
  auto startup = Executor::Create(*job->Find(kStartupProgram), kernels);
  ASSERT_TRUE(startup.ok()) << startup.status();
  ASSERT_TRUE((*startup)->Run(scope).ok());

  const std::vector<float> x = {1, 2, -1, 0.5f, -1.5f, 2};  // [2, 3]
  const std::vector<float> t = {0.3f, -0.7f, 1.1f, 0.2f};   // [2, 2]
  Tensor x_tensor(DataType::kF32, {2, 3});
  std::copy(x.begin(), x.end(), x_tensor.data<float>());
  Tensor t_tensor(DataType::kF32, {2, 2});
  std::copy(t.begin(), t.end(), t_tensor.data<float>());
  scope.Set("x", std::move(x_tensor));
  scope.Set("label", std::move(t_tensor));
  auto step = Executor::Create(main, kernels);
  ASSERT_TRUE(step.ok()) << step.status();
  absl::Status ran = (*step)->Run(scope);
  ASSERT_TRUE(ran.ok()) << ran;

  double residual[2][2];
  for (int n = 0; n < 2; ++n) {
    for (int k = 0; k < 2; ++k) {
      residual[n][k] = -t[n * 2 + k];
      for (int i = 0; i < 3; ++i) residual[n][k] += double{x[n * 3 + i]} * kW[i * 2 + k];
    }
  }
  const Tensor* w = scope.Find("w");
  ASSERT_NE(w, nullptr);
  for (int i = 0; i < 3; ++i) {
    for (int k = 0; k < 2; ++k) {
      double grad = 0;
      for (int n = 0; n < 2; ++n) grad += 2.0 / 4.0 * x[n * 3 + i] * residual[n][k];
      EXPECT_NEAR(w->data<float>()[i * 2 + k], kW[i * 2 + k] - kLr * grad, 1e-6)
          << "w[" << i << "," << k << "]";
    }
  }
}

TEST(DistributedOptimizerTest, BadFieldsAreBlamedWhereTheyWereGiven) {
  absl::StatusOr<Job> job =
      DistributedOptimizer(Optimizer("adamax", 0.01), Ps(2)).Minimize(LinearModel());
  EXPECT_EQ(job.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(job.status().message(),
              HasSubstr("optimizer config field 'optimizer': unknown optimizer 'adamax'"));

  job = DistributedOptimizer(Optimizer("adam", -1), Ps(2)).Minimize(LinearModel());
  EXPECT_EQ(job.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(job.status().message(), HasSubstr("optimizer config field 'lr': learning rate -1"));

  job = DistributedOptimizer(Optimizer("adam", 0.01), Ps(0)).Minimize(LinearModel());
  EXPECT_EQ(job.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(job.status().message(),
              HasSubstr("strategy field 'ps.servers': the ps strategy needs the number of "
                        "parameter servers; got 0"));
}

TEST(DistributedOptimizerTest, StrategyTrainingMustAgreeWithTheOptimizer) {
  proto::DistributedStrategy strategy = Ps(2);
  *strategy.mutable_training() = Optimizer("adam", 0.01);
  EXPECT_TRUE(DistributedOptimizer(Optimizer("adam", 0.01), strategy).Minimize(LinearModel()).ok());

  strategy.mutable_training()->set_lr(0.5);
  absl::StatusOr<Job> job =
      DistributedOptimizer(Optimizer("adam", 0.01), strategy).Minimize(LinearModel());
  EXPECT_EQ(job.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(job.status().message(),
              HasSubstr("the strategy's training field {loss: MSE optimizer: \"adam\" lr: 0.5} "
                        "differs from the optimizer config"));
  EXPECT_THAT(job.status().message(), HasSubstr("hint: leave DistributedStrategy.training unset"));
}

TEST(DistributedOptimizerTest, PassErrorsNameThePass) {
  proto::TrainingConfig no_loss = Optimizer("sgd", 0.1);
  no_loss.clear_loss();
  absl::StatusOr<Job> job = DistributedOptimizer(no_loss, Ps(1)).Minimize(LinearModel());
  EXPECT_EQ(job.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(job.status().message(), HasSubstr("pass 'loss' failed"));
  EXPECT_THAT(job.status().message(), HasSubstr("the model has no loss output"));
}

}  // namespace
}  // namespace fleet
