// Tests for the optimizer pass (passes/training/optimizer.cc) by the program it writes: state
// vars and their names, op order and roles, the startup program, sparse gradients, the single
// strategy's pipeline end to end, the strategy's text form, and the errors for bad strategies
// and wrong pass orders.
#include <cmath>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "executor/executor.h"
#include "executor/scope.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kernels/cpu/register.h"
#include "passes/strategy.h"
#include "passes/training/startup.h"
#include "tests/passes/optimizer_test_util.h"
#include "tests/passes/test_programs.h"

namespace fleet {
namespace {

using ::testing::HasSubstr;
using testing_util::kTwoParams;
using testing_util::ParseOrDie;
using testing_util::RunPasses;
using testing_util::Strategy;

// ---- the rewritten program ----

const Op* FindOp(const Program& p, const std::string& type) {
  for (const Op& op : p.main().ops) {
    if (op.type == type) return &op;
  }
  return nullptr;
}

TEST(OptimizerPassTest, DeclaresStateAndRecordsNames) {
  Program program = ParseOrDie(kTwoParams);
  proto::DistributedStrategy s = Strategy("adam", 0.01);
  s.mutable_training()->set_grad_clip_norm(2.0);
  ASSERT_TRUE(RunPasses(program, "optimizer", &s).ok());
  const Block& b = program.main();
  for (const char* name : {"w@moment1", "w@moment2", "w@beta1_pow", "w@beta2_pow", "b@moment1",
                           "learning_rate", "global_step"}) {
    const Var* v = b.FindVar(name);
    ASSERT_NE(v, nullptr) << name;
    EXPECT_TRUE(v->Has(kVarPersistable)) << name;
  }
  EXPECT_EQ(b.FindVar("w@moment1")->shape, (std::vector<int64_t>{3, 2}));
  EXPECT_EQ(b.FindVar("w@beta1_pow")->shape, (std::vector<int64_t>{1}));
  EXPECT_EQ(b.FindVar("global_step")->dtype, DataType::kI64);
  EXPECT_EQ(b.FindVar("learning_rate")->dtype, DataType::kF32);
  EXPECT_EQ(program.meta.training.learning_rate, "learning_rate");
  EXPECT_EQ(program.meta.training.step, "global_step");
  EXPECT_EQ(program.meta.training.optimizer, "fleet.adam");
  EXPECT_TRUE(program.meta.extra.empty());

  ASSERT_EQ(b.ops.size(), 5u);  // schedule, clip, two updates, increment
  EXPECT_EQ(b.ops[0].type, "fleet.lr_schedule");
  EXPECT_EQ(b.ops[0].role, kRoleLRSchedule);
  EXPECT_EQ(b.ops[1].type, "fleet.clip_by_global_norm");
  EXPECT_EQ(b.ops[1].role, kRoleOptimize);
  EXPECT_EQ(b.ops[2].type, "fleet.adam");
  EXPECT_EQ(b.ops[2].role, kRoleOptimize);
  EXPECT_EQ(b.ops[2].FindInput("Grad")->vars[0], "w@GRAD@CLIP");
  // The pairs: the clip op handles both gradients, each update its own (clipped) one.
  EXPECT_TRUE(b.ops[1].role_vars == (std::vector<RoleVar>{{"w", "w@GRAD"}, {"b", "b@GRAD"}}));
  EXPECT_TRUE(b.ops[2].role_vars == (std::vector<RoleVar>{{"w", "w@GRAD@CLIP"}}));
  EXPECT_TRUE(b.ops[3].role_vars == (std::vector<RoleVar>{{"b", "b@GRAD@CLIP"}}));
  EXPECT_TRUE(b.ops[0].role_vars.empty());
  EXPECT_TRUE(b.ops[4].role_vars.empty());
  EXPECT_EQ(b.ops[4].type, "fleet.increment");
  EXPECT_EQ(b.ops[4].role, kRoleLRSchedule);
}

TEST(OptimizerPassTest, StartupFillsEveryStateVar) {
  Program program = ParseOrDie(kTwoParams);
  proto::DistributedStrategy s = Strategy("adam", 0.01);
  s.mutable_training()->set_beta1(0.5);
  ASSERT_TRUE(RunPasses(program, "optimizer", &s).ok());
  absl::StatusOr<Program> startup = BuildStartupProgram(program);
  ASSERT_TRUE(startup.ok()) << startup.status();
  std::map<std::string, float> filled;
  for (const Op& op : startup->main().ops) {
    ASSERT_EQ(op.type, "fleet.fill_constant");
    filled[op.outputs[0].vars[0]] = std::get<float>(op.attrs.at("value"));
    EXPECT_TRUE(startup->main().FindVar(op.outputs[0].vars[0])->Has(kVarPersistable));
  }
  EXPECT_EQ(filled.size(), 10u);  // 4 per parameter, learning_rate, global_step
  EXPECT_EQ(filled["w@beta1_pow"], 0.5f);
  EXPECT_EQ(filled["b@beta2_pow"], 0.999f);
  EXPECT_EQ(filled["w@moment2"], 0.0f);
  EXPECT_EQ(filled["learning_rate"], 0.01f);
  EXPECT_EQ(filled["global_step"], 0.0f);
  EXPECT_EQ(filled.count("w"), 0u) << "parameters keep their values in main.program";
  EXPECT_EQ(startup->main().FindVar("global_step")->dtype, DataType::kI64);
}

TEST(OptimizerPassTest, SparseGradientsTrainOnlyTheirRows) {
  Program program = ParseOrDie(R"(fleet.program v1 opset=17
block 0 {
  var %emb : f32[5,2] persistable parameter trainable
  var %"emb@GRAD" : f32[?,2] sparse_rows feed
}
)");
  proto::DistributedStrategy s = Strategy("adagrad", 0.5);
  s.mutable_training()->set_grad_clip_norm(100);
  ASSERT_TRUE(RunPasses(program, "optimizer", &s).ok());
  EXPECT_EQ(program.main().FindVar("emb@GRAD@CLIP")->kind, VarKind::kSparseRows);
  absl::StatusOr<Program> startup = BuildStartupProgram(program);
  ASSERT_TRUE(startup.ok()) << startup.status();
  KernelTable kernels;
  RegisterCpuKernels(kernels);
  Scope scope;
  scope.Set("emb", Tensor::Zeros(DataType::kF32, {5, 2}));
  Tensor values(DataType::kF32, {3, 2});
  for (int i = 0; i < 6; ++i) values.data<float>()[i] = static_cast<float>(i + 1);
  Tensor ids(DataType::kI64, {3});
  ids.data<int64_t>()[0] = 3;
  ids.data<int64_t>()[1] = 1;
  ids.data<int64_t>()[2] = 3;
  scope.Set("emb@GRAD", Tensor::SparseRows(values, ids, 5));
  auto init = Executor::Create(*startup, kernels);
  ASSERT_TRUE(init.ok()) << init.status();
  ASSERT_TRUE((*init)->Run(scope).ok());
  auto exec = Executor::Create(program, kernels);
  ASSERT_TRUE(exec.ok()) << exec.status();
  absl::Status ran = (*exec)->Run(scope);
  ASSERT_TRUE(ran.ok()) << ran;
  // Adagrad's first step from a zero accumulator moves each touched element by -lr * sign(g).
  const float* e = scope.Find("emb")->data<float>();
  const std::vector<float> expected = {0, 0, -0.5f, -0.5f, 0, 0, -0.5f, -0.5f, 0, 0};
  for (int i = 0; i < 10; ++i) EXPECT_NEAR(e[i], expected[i], 1e-6) << i;
}

TEST(OptimizerPassTest, SgdWithMomentumBecomesMomentum) {
  Program program = ParseOrDie(kTwoParams);
  proto::DistributedStrategy s = Strategy("sgd", 0.1);
  ASSERT_TRUE(RunPasses(program, "optimizer", &s).ok());
  EXPECT_NE(FindOp(program, "fleet.sgd"), nullptr);
  EXPECT_EQ(program.main().FindVar("w@velocity"), nullptr);

  Program with_mu = ParseOrDie(kTwoParams);
  s.mutable_training()->set_momentum(0.5);
  ASSERT_TRUE(RunPasses(with_mu, "optimizer", &s).ok());
  const Op* op = FindOp(with_mu, "fleet.momentum");
  ASSERT_NE(op, nullptr);
  EXPECT_EQ(std::get<float>(op->attrs.at("mu")), 0.5f);
  EXPECT_NE(with_mu.main().FindVar("w@velocity"), nullptr);
}

TEST(OptimizerPassTest, SinglePipelineTrains) {
  proto::DistributedStrategy s = Strategy("sgd", 0.1);
  absl::StatusOr<std::string> pipeline = StrategyPipeline(s);
  ASSERT_TRUE(pipeline.ok());
  EXPECT_EQ(*pipeline, "loss,autodiff,optimizer,startup");
}

// The whole single-machine pipeline (loss, autodiff, optimizer, startup) over a job, on a model
// with its own loss: mean((x * w - y)^2), trained by sgd from w = 0, reaches the w that made y.
TEST(OptimizerPassTest, SinglePipelineFitsALinearModel) {
  Program program = ParseOrDie(R"(fleet.program v1 opset=17 producer="linear"
block 0 {
  var %x : f32[8,3] feed
  var %neg_y : f32[8,3] feed
  var %w : f32[3] persistable parameter init
  var %p : f32[8,3]
  var %d : f32[8,3]
  var %sq : f32[8,3]
  var %loss : f32[] fetch
  (C: %p) = Mul(A: %x, B: %w)
  (sum: %d) = Sum(data_0: [%p, %neg_y])
  (C: %sq) = Mul(A: %d, B: %d)
  (reduced: %loss) = ReduceMean(data: %sq) {keepdims = 0}
}
)");
  proto::DistributedStrategy s = Strategy("sgd", 1.0);
  s.mutable_training()->set_loss_output("loss");
  absl::StatusOr<std::string> pipeline = StrategyPipeline(s);
  ASSERT_TRUE(pipeline.ok());
  Job job(std::move(program));
  PassManager pm;
  ASSERT_TRUE(pm.AddPipeline(*pipeline, PassRegistry::WithBuiltins()).ok());
  PassContext ctx;
  ctx.set_strategy(s);
  absl::StatusOr<bool> changed = pm.Run(job, ctx);
  ASSERT_TRUE(changed.ok()) << changed.status();
  program = std::move(job.main());
  ASSERT_NE(job.Find(kStartupProgram), nullptr) << "the startup pass adds it";
  const Program* startup = job.Find(kStartupProgram);

  KernelTable kernels;
  RegisterCpuKernels(kernels);
  Scope scope;
  const float w_true[3] = {0.5f, -1.25f, 2.0f};
  Tensor x(DataType::kF32, {8, 3}), neg_y(DataType::kF32, {8, 3});
  for (int i = 0; i < 24; ++i) {
    x.data<float>()[i] = static_cast<float>(std::sin(1.7 * i + 0.3));
    neg_y.data<float>()[i] = -x.data<float>()[i] * w_true[i % 3];
  }
  scope.Set("x", x);
  scope.Set("neg_y", neg_y);
  scope.Set("w", Tensor::Zeros(DataType::kF32, {3}));
  auto init = Executor::Create(*startup, kernels);
  ASSERT_TRUE(init.ok()) << init.status();
  ASSERT_TRUE((*init)->Run(scope).ok());
  auto exec = Executor::Create(program, kernels);
  ASSERT_TRUE(exec.ok()) << exec.status();
  double first = 0, last = 0;
  for (int step = 0; step < 100; ++step) {
    absl::Status ran = (*exec)->Run(scope);
    ASSERT_TRUE(ran.ok()) << ran;
    last = scope.Find("loss")->data<float>()[0];
    if (step == 0) first = last;
  }
  EXPECT_GT(first, 0.5);
  EXPECT_LT(last, 1e-6);
  for (int j = 0; j < 3; ++j) EXPECT_NEAR(scope.Find("w")->data<float>()[j], w_true[j], 1e-3);
  EXPECT_EQ(scope.Find("global_step")->data<int64_t>()[0], 100);
}

TEST(OptimizerStrategyTest, TextFormRoundTripsAndErrorsNameTheLine) {
  absl::StatusOr<proto::DistributedStrategy> s = ParseStrategyText(
      "training {\n"
      "  optimizer: \"sgd\" lr: 0.1 momentum: 0.9 nesterov: true weight_decay: 0\n"
      "  lr_schedule { warmup_steps: 5 decay: STEP decay_steps: 100 }\n"
      "}\n",
      "s.pbtxt");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_TRUE(s->training().has_weight_decay()) << "an explicit 0 is kept apart from unset";
  EXPECT_FALSE(s->training().has_beta1());
  EXPECT_EQ(s->training().lr_schedule().decay(), proto::LrSchedule::STEP);
  EXPECT_THAT(StrategyToText(*s), HasSubstr("lr_schedule { warmup_steps: 5 decay: STEP"));
  EXPECT_EQ(*ParseDecayName("cosine"), proto::LrSchedule::COSINE);
  EXPECT_EQ(DecayName(proto::LrSchedule::EXPONENTIAL), "exponential");

  absl::StatusOr<proto::DistributedStrategy> bad =
      ParseStrategyText("training {\n  optimizer: \"adam\"\n  momentum: 0.9\n}\n", "s.pbtxt");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(),
              HasSubstr("s.pbtxt:3:3: error: optimizer 'adam' has no momentum"));
  absl::StatusOr<proto::DistributedStrategy> steps =
      ParseStrategyText("training { lr_schedule {\n decay: COSINE } }", "s.pbtxt");
  ASSERT_FALSE(steps.ok());
  EXPECT_THAT(steps.status().message(), HasSubstr("decay 'cosine' needs decay_steps > 0"));
}

// ---- errors ----

absl::Status RunOn(const std::string& text, const proto::DistributedStrategy* s) {
  Program program = ParseOrDie(text);
  return RunPasses(program, "optimizer", s).status();
}

TEST(OptimizerPassErrorTest, BadStrategies) {
  struct Case {
    std::function<void(proto::TrainingConfig&)> edit;
    const char* message;
  };
  const std::vector<Case> cases = {
      {[](proto::TrainingConfig& t) { t.set_optimizer("rmsprop"); },
       "unknown optimizer 'rmsprop'; expected one of sgd, momentum, adam, adamw, adagrad"},
      {[](proto::TrainingConfig& t) { t.set_optimizer(""); }, "the strategy names no optimizer"},
      {[](proto::TrainingConfig& t) { t.set_lr(-1); }, "learning rate -1 is invalid"},
      {[](proto::TrainingConfig& t) { t.set_lr(0); }, "optimizer 'sgd' needs a learning rate > 0"},
      {[](proto::TrainingConfig& t) { t.set_grad_clip_norm(-1); },
       "gradient clip norm -1 is invalid; expected a number >= 0"},
      {[](proto::TrainingConfig& t) { t.set_momentum(-0.5); }, "momentum -0.5 is invalid"},
      {[](proto::TrainingConfig& t) { t.set_nesterov(true); },
       "Nesterov momentum needs a momentum > 0"},
      {[](proto::TrainingConfig& t) { t.set_beta1(0.9); },
       "optimizer 'sgd' has no beta1; it applies to adam and adamw"},
      {[](proto::TrainingConfig& t) { t.set_weight_decay(-1); }, "weight decay -1 is invalid"},
      {[](proto::TrainingConfig& t) {
         t.mutable_lr_schedule()->set_decay(proto::LrSchedule::COSINE);
       },
       "decay 'cosine' needs decay_steps > 0"},
      {[](proto::TrainingConfig& t) {
         t.mutable_lr_schedule()->set_decay(proto::LrSchedule::EXPONENTIAL);
       },
       "decay 'exponential' needs a decay rate"},
      {[](proto::TrainingConfig& t) { t.mutable_lr_schedule()->set_warmup_steps(-3); },
       "warmup steps -3 is invalid"},
  };
  for (const Case& c : cases) {
    proto::DistributedStrategy s = Strategy("sgd", 0.1);
    c.edit(*s.mutable_training());
    absl::Status status = RunOn(kTwoParams, &s);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << c.message;
    EXPECT_THAT(status.message(), HasSubstr(c.message));
  }
  proto::DistributedStrategy adam = Strategy("adam", 0.1);
  adam.mutable_training()->set_momentum(0.9);
  EXPECT_THAT(RunOn(kTwoParams, &adam).message(),
              HasSubstr("optimizer 'adam' has no momentum; it applies to sgd and momentum"));
  proto::DistributedStrategy beta = Strategy("adam", 0.1);
  beta.mutable_training()->set_beta2(1.0);
  EXPECT_THAT(RunOn(kTwoParams, &beta).message(),
              HasSubstr("beta2 1 is invalid; expected a number in [0, 1)"));
}

TEST(OptimizerPassErrorTest, NoStrategy) {
  absl::Status status = RunOn(kTwoParams, nullptr);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("no strategy"));
}

TEST(OptimizerPassErrorTest, NeedsAutodiffFirst) {
  proto::DistributedStrategy s = Strategy("sgd", 0.1);
  absl::Status none = RunOn(R"(fleet.program v1 opset=17
block 0 {
  var %w : f32[3,2] persistable parameter
}
)",
                            &s);
  EXPECT_EQ(none.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(none.message(), HasSubstr("no trainable parameters"));
  EXPECT_THAT(none.message(), HasSubstr("run autodiff first"));
  absl::Status no_grad = RunOn(R"(fleet.program v1 opset=17
block 0 {
  var %w : f32[3,2] persistable parameter trainable
}
)",
                               &s);
  EXPECT_EQ(no_grad.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(no_grad.message(), HasSubstr("has no gradient var 'w@GRAD'; run autodiff first"));
}

TEST(OptimizerPassErrorTest, RunsOnce) {
  Program program = ParseOrDie(kTwoParams);
  proto::DistributedStrategy s = Strategy("sgd", 0.1);
  ASSERT_TRUE(RunPasses(program, "optimizer", &s).ok());
  absl::StatusOr<bool> again = RunPasses(program, "optimizer", &s);
  EXPECT_EQ(again.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(again.status().message(), HasSubstr("already has optimizer ops"));
}

TEST(OptimizerPassErrorTest, ParameterWithoutStaticShape) {
  proto::DistributedStrategy s = Strategy("adam", 0.1);
  absl::Status status = RunOn(R"(fleet.program v1 opset=17
block 0 {
  var %w : f32[?,2] persistable parameter trainable
  var %"w@GRAD" : f32[?,2] feed
}
)",
                              &s);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("trainable parameter 'w' has an unknown dimension"));
}

}  // namespace
}  // namespace fleet
