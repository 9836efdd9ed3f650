// Tests for the optimizer pass (passes/training/optimizer.cc) and the startup program
// (passes/training/startup.h) by their numbers: programs whose gradients are fed (as autodiff
// would compute them) get their update ops; the startup program and three steps of the main
// program run on the executor with the CPU kernels, and the parameters match PyTorch's formulas
// evaluated here in double (torch.optim.SGD/Adam/AdamW/Adagrad, clip_grad_norm_, the LR
// schedules).
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
#include "passes/strategy.h"
#include "passes/training/startup.h"
#include "tests/passes/optimizer_test_util.h"
#include "tests/passes/test_programs.h"

namespace fleet {
namespace {

using testing_util::kTwoParams;
using testing_util::ParseOrDie;
using testing_util::RunPasses;
using testing_util::Strategy;

constexpr int kSteps = 3;

double InitValue(const std::string& param, int64_t i) {
  return param == "w" ? std::cos(0.37 * i) - 0.2 : 0.5 - 0.3 * i;
}
double GradValue(const std::string& param, int64_t i, int step) {
  return std::sin(0.7 * i + 1.3 * step + (param == "w" ? 0.1 : 2.0)) * 1.5;
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

}  // namespace
}  // namespace fleet
