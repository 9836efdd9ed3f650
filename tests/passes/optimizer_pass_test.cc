// Tests for the optimizer pass (passes/training/optimizer.cc) and the startup program
// (passes/training/startup.h): programs whose gradients are fed (as autodiff would compute
// them) get their update ops; the startup program and three steps of the main program run on
// the executor with the CPU kernels, and the parameters match PyTorch's formulas evaluated
// here in double (torch.optim.SGD/Adam/AdamW/Adagrad, clip_grad_norm_, the LR schedules).
// Bad strategies and wrong pass orders are clear errors.
#include <cmath>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "executor/executor.h"
#include "executor/scope.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kernels/cpu/register.h"
#include "passes/pass_manager.h"
#include "passes/registry.h"
#include "passes/strategy.h"
#include "passes/training/startup.h"
#include "tests/passes/test_programs.h"

namespace fleet {
namespace {

using ::testing::HasSubstr;
using testing_util::ParseOrDie;

// Two parameters whose gradients are feeds.
constexpr char kTwoParams[] = R"(fleet.program v1 opset=17
block 0 {
  var %w : f32[3,2] persistable parameter trainable
  var %b : f32[2] persistable parameter trainable
  var %"w@GRAD" : f32[3,2] feed
  var %"b@GRAD" : f32[2] feed
}
)";

constexpr int kSteps = 3;

double InitValue(const std::string& param, int64_t i) {
  return param == "w" ? std::cos(0.37 * i) - 0.2 : 0.5 - 0.3 * i;
}
double GradValue(const std::string& param, int64_t i, int step) {
  return std::sin(0.7 * i + 1.3 * step + (param == "w" ? 0.1 : 2.0)) * 1.5;
}

absl::StatusOr<bool> RunPasses(Program& program, const std::string& pipeline,
                               const proto::DistributedStrategy* strategy) {
  PassManager pm;
  absl::Status added = pm.AddPipeline(pipeline, PassRegistry::WithBuiltins());
  if (!added.ok()) return added;
  PassContext ctx;
  if (strategy != nullptr) ctx.set_strategy(*strategy);
  return pm.Run(program, ctx);
}

proto::DistributedStrategy Strategy(const std::string& optimizer, double lr) {
  proto::DistributedStrategy s;
  s.set_mode(proto::DistributedStrategy::SINGLE);
  s.mutable_training()->set_optimizer(optimizer);
  s.mutable_training()->set_lr(lr);
  return s;
}

// torch.optim's update of one parameter, in double: what the executed program must match.
struct Reference {
  explicit Reference(std::string name) : optimizer(std::move(name)) {}

  std::string optimizer;  // sgd (mu 0), momentum, adam, adamw, adagrad
  double mu = 0, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, wd = 0, init_acc = 0, clip = 0;
  bool nesterov = false;
  std::function<double(int)> lr;  // of step t = 0, 1, ...

  struct State {
    std::vector<double> p, m, v;
  };

  void Step(std::map<std::string, State>& params, std::map<std::string, std::vector<double>> grads,
            int t) const {
    if (clip > 0) {  // clip_grad_norm_
      double sum = 0;
      for (auto& [name, g] : grads) {
        for (double x : g) sum += x * x;
      }
      const double coef = std::min(1.0, clip / (std::sqrt(sum) + 1e-6));
      for (auto& [name, g] : grads) {
        for (double& x : g) x *= coef;
      }
    }
    const double a = lr(t);
    for (auto& [name, s] : params) {
      const std::vector<double>& grad = grads[name];
      for (size_t i = 0; i < s.p.size(); ++i) {
        double g = grad[i];
        double& p = s.p[i];
        if (optimizer == "adamw") {
          p *= 1 - a * wd;
        } else {
          g += wd * p;
        }
        if (optimizer == "sgd") {
          p -= a * g;
        } else if (optimizer == "momentum") {
          s.m[i] = t == 0 ? g : mu * s.m[i] + g;  // torch: buf = g on the first step
          p -= a * (nesterov ? g + mu * s.m[i] : s.m[i]);
        } else if (optimizer == "adagrad") {
          s.m[i] += g * g;
          p -= a * g / (std::sqrt(s.m[i]) + eps);
        } else {  // adam, adamw
          s.m[i] = beta1 * s.m[i] + (1 - beta1) * g;
          s.v[i] = beta2 * s.v[i] + (1 - beta2) * g * g;
          const double bc1 = 1 - std::pow(beta1, t + 1), bc2 = 1 - std::pow(beta2, t + 1);
          p -= a / bc1 * s.m[i] / (std::sqrt(s.v[i]) / std::sqrt(bc2) + eps);
        }
      }
    }
  }
};

class OptimizerNumbersTest : public ::testing::Test {
 protected:
  void SetUp() override { RegisterCpuKernels(kernels_); }

  // Runs the optimizer pass over kTwoParams with `strategy`, then startup once and main
  // kSteps times, and compares w and b with `ref` after every step.
  void Check(const proto::DistributedStrategy& strategy, const Reference& ref, double tol) {
    Program program = ParseOrDie(kTwoParams);
    absl::StatusOr<bool> changed = RunPasses(program, "optimizer", &strategy);
    ASSERT_TRUE(changed.ok()) << changed.status();
    absl::StatusOr<Program> startup = BuildStartupProgram(program);
    ASSERT_TRUE(startup.ok()) << startup.status();
    EXPECT_EQ(startup->meta.role, "startup");

    Scope scope;
    std::map<std::string, Reference::State> expected;
    for (const char* name : {"w", "b"}) {
      const Var* v = program.main().FindVar(name);
      Tensor t(DataType::kF32, *v->shape);
      Reference::State& s = expected[name];
      for (int64_t i = 0; i < t.numel(); ++i) {
        t.data<float>()[i] = static_cast<float>(InitValue(name, i));
        s.p.push_back(t.data<float>()[i]);
      }
      s.m.assign(t.numel(), ref.optimizer == "adagrad" ? ref.init_acc : 0.0);
      s.v.assign(t.numel(), 0.0);
      scope.Set(name, t);
    }
    auto init = Executor::Create(*startup, kernels_);
    ASSERT_TRUE(init.ok()) << init.status();
    ASSERT_TRUE((*init)->Run(scope).ok());
    auto exec = Executor::Create(program, kernels_);
    ASSERT_TRUE(exec.ok()) << exec.status();
    for (int t = 0; t < kSteps; ++t) {
      std::map<std::string, std::vector<double>> grads;
      for (const char* name : {"w", "b"}) {
        Tensor g(DataType::kF32, scope.Find(name)->shape());
        for (int64_t i = 0; i < g.numel(); ++i) {
          g.data<float>()[i] = static_cast<float>(GradValue(name, i, t));
          grads[name].push_back(g.data<float>()[i]);
        }
        scope.Set(std::string(name) + "@GRAD", g);
      }
      absl::Status ran = (*exec)->Run(scope);
      ASSERT_TRUE(ran.ok()) << ran;
      ref.Step(expected, grads, t);
      for (const char* name : {"w", "b"}) {
        const Tensor* p = scope.Find(name);
        for (int64_t i = 0; i < p->numel(); ++i) {
          ASSERT_NEAR(p->data<float>()[i], expected[name].p[i],
                      tol * (1 + std::fabs(expected[name].p[i])))
              << name << "[" << i << "] after step " << t + 1;
        }
      }
    }
    const Tensor* step = scope.Find("global_step");
    ASSERT_NE(step, nullptr);
    EXPECT_EQ(step->data<int64_t>()[0], kSteps);
  }

  KernelTable kernels_;
};

std::function<double(int)> Constant(double lr) {
  return [lr](int) { return lr; };
}

TEST_F(OptimizerNumbersTest, Sgd) {
  Reference ref("sgd");
  ref.lr = Constant(0.1);
  Check(Strategy("sgd", 0.1), ref, 1e-5);
}

TEST_F(OptimizerNumbersTest, SgdWithWeightDecayAndNesterovMomentum) {
  proto::DistributedStrategy s = Strategy("sgd", 0.05);
  s.mutable_training()->set_momentum(0.8);
  s.mutable_training()->set_nesterov(true);
  s.mutable_training()->set_weight_decay(0.1);
  Reference ref("momentum");
  ref.mu = 0.8;
  ref.nesterov = true;
  ref.wd = 0.1;
  ref.lr = Constant(0.05);
  Check(s, ref, 1e-5);
}

TEST_F(OptimizerNumbersTest, MomentumDefaultsToPointNine) {
  Reference ref("momentum");
  ref.mu = 0.9;
  ref.lr = Constant(0.05);
  Check(Strategy("momentum", 0.05), ref, 1e-5);
}

TEST_F(OptimizerNumbersTest, AdamWithDefaults) {
  Reference ref("adam");
  ref.lr = Constant(1e-3);  // lr unset: torch's default
  Check(Strategy("adam", 0), ref, 1e-5);
}

TEST_F(OptimizerNumbersTest, AdamWithL2AndClipping) {
  proto::DistributedStrategy s = Strategy("adam", 0.01);
  s.mutable_training()->set_beta1(0.8);
  s.mutable_training()->set_beta2(0.99);
  s.mutable_training()->set_epsilon(1e-6);
  s.mutable_training()->set_weight_decay(0.05);
  s.mutable_training()->set_grad_clip_norm(1.0);
  Reference ref("adam");
  ref.beta1 = 0.8;
  ref.beta2 = 0.99;
  ref.eps = 1e-6;
  ref.wd = 0.05;
  ref.clip = 1.0;
  ref.lr = Constant(0.01);
  Check(s, ref, 1e-5);
}

TEST_F(OptimizerNumbersTest, AdamWDecoupledDecayWithWarmupAndCosine) {
  proto::DistributedStrategy s = Strategy("adamw", 0.01);
  proto::LrSchedule* l = s.mutable_training()->mutable_lr_schedule();
  l->set_warmup_steps(1);
  l->set_decay(proto::LrSchedule::COSINE);
  l->set_decay_steps(4);
  l->set_min_lr(0.001);
  Reference ref("adamw");
  ref.wd = 0.01;  // adamw's default
  ref.lr = [](int t) {
    if (t < 1) return 0.01 * t / 1.0;
    const double pi = 3.14159265358979323846;
    return 0.001 + (0.01 - 0.001) * (1 + std::cos(pi * (t - 1) / 4.0)) / 2;
  };
  Check(s, ref, 1e-5);
}

TEST_F(OptimizerNumbersTest, AdagradWithInitialAccumulatorAndStepDecay) {
  proto::DistributedStrategy s = Strategy("adagrad", 0.1);
  s.mutable_training()->set_initial_accumulator(0.5);
  s.mutable_training()->mutable_lr_schedule()->set_decay(proto::LrSchedule::STEP);
  s.mutable_training()->mutable_lr_schedule()->set_decay_steps(2);
  Reference ref("adagrad");
  ref.eps = 1e-10;
  ref.init_acc = 0.5;
  ref.lr = [](int t) { return 0.1 * std::pow(0.1, t / 2); };  // StepLR, gamma 0.1
  Check(s, ref, 1e-5);
}

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
  EXPECT_EQ(program.meta.extra["training.learning_rate"], "learning_rate");
  EXPECT_EQ(program.meta.extra["training.step"], "global_step");
  EXPECT_EQ(program.meta.extra["training.optimizer"], "fleet.adam");

  ASSERT_EQ(b.ops.size(), 5u);  // schedule, clip, two updates, increment
  EXPECT_EQ(b.ops[0].type, "fleet.lr_schedule");
  EXPECT_EQ(b.ops[0].role, kRoleLRSchedule);
  EXPECT_EQ(b.ops[1].type, "fleet.clip_by_global_norm");
  EXPECT_EQ(b.ops[1].role, kRoleOptimize);
  EXPECT_EQ(b.ops[2].type, "fleet.adam");
  EXPECT_EQ(b.ops[2].role, kRoleOptimize);
  EXPECT_EQ(b.ops[2].FindInput("Grad")->vars[0], "w@GRAD@CLIP");
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
  EXPECT_EQ(*pipeline, "loss,autodiff,optimizer");
}

// The whole single-machine pipeline (loss, autodiff, optimizer) on a model with its own loss:
// mean((x * w - y)^2), trained by sgd from w = 0, reaches the w that made y.
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
  absl::StatusOr<bool> changed = RunPasses(program, *pipeline, &s);
  ASSERT_TRUE(changed.ok()) << changed.status();
  absl::StatusOr<Program> startup = BuildStartupProgram(program);
  ASSERT_TRUE(startup.ok()) << startup.status();

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

  absl::StatusOr<proto::DistributedStrategy> bad = ParseStrategyText(
      "training {\n  optimizer: \"adam\"\n  momentum: 0.9\n}\n", "s.pbtxt");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(),
              HasSubstr("s.pbtxt:3:3: error: optimizer 'adam' has no momentum"));
  absl::StatusOr<proto::DistributedStrategy> steps = ParseStrategyText(
      "training { lr_schedule {\n decay: COSINE } }", "s.pbtxt");
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
