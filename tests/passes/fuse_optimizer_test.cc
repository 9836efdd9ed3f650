// The fuse-optimizer pass (passes/fuse_optimizer.cc) against the program it rewrites: for every
// optimizer, a program of three parameters trained for a few steps with and without the pass
// ends with the same parameters and state, bit for bit (fleet.multi_update runs each update's
// own kernel); the fused program has one fleet.multi_update in place of the updates.
#include <random>
#include <string>
#include <vector>

#include "executor/executor.h"
#include "executor/scope.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kernels/cpu/register.h"
#include "passes/training/startup.h"
#include "tests/passes/optimizer_test_util.h"
#include "tests/passes/test_programs.h"

namespace fleet {
namespace {

using ::testing::HasSubstr;
using testing_util::ParseOrDie;
using testing_util::RunPasses;
using testing_util::Strategy;

constexpr char kThreeParams[] = R"(fleet.program v1 opset=17
block 0 {
  var %w : f32[3,2] persistable parameter trainable
  var %b : f32[2] persistable parameter trainable
  var %v : f32[4] persistable parameter trainable
  var %"w@GRAD" : f32[3,2] feed
  var %"b@GRAD" : f32[2] feed
  var %"v@GRAD" : f32[4] feed
}
)";

int CountOps(const Program& p, const std::string& type) {
  int n = 0;
  for (const Op& op : p.main().ops) n += op.type == type;
  return n;
}

Tensor Random(std::vector<int64_t> shape, std::mt19937& rng) {
  Tensor t(DataType::kF32, std::move(shape));
  std::uniform_real_distribution<float> dist(-1.f, 1.f);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = dist(rng);
  return t;
}

// Trains `program` for 3 steps from the same start and gradients, its state made by the
// startup program of `unfused` (as fleet-run fuses only the copy it runs); the scope it ends
// with.
void Train(const Program& program, const Program& unfused, Scope& scope) {
  KernelTable kernels;
  RegisterCpuKernels(kernels);
  absl::StatusOr<Program> startup = BuildStartupProgram(unfused);
  ASSERT_TRUE(startup.ok()) << startup.status();
  std::mt19937 rng(7);
  scope.Set("w", Random({3, 2}, rng));
  scope.Set("b", Random({2}, rng));
  scope.Set("v", Random({4}, rng));
  auto init = Executor::Create(*startup, kernels);
  ASSERT_TRUE(init.ok()) << init.status();
  ASSERT_TRUE((*init)->Run(scope).ok());
  auto exec = Executor::Create(program, kernels);
  ASSERT_TRUE(exec.ok()) << exec.status();
  for (int step = 0; step < 3; ++step) {
    scope.Set("w@GRAD", Random({3, 2}, rng));
    scope.Set("b@GRAD", Random({2}, rng));
    scope.Set("v@GRAD", Random({4}, rng));
    absl::Status ran = (*exec)->Run(scope);
    ASSERT_TRUE(ran.ok()) << ran;
  }
}

TEST(FuseOptimizerTest, TheFusedUpdateEndsWhereTheSeparateOnesDo) {
  for (const char* optimizer : {"sgd", "momentum", "adam", "adamw", "adagrad"}) {
    SCOPED_TRACE(optimizer);
    Program separate = ParseOrDie(kThreeParams);
    proto::DistributedStrategy s = Strategy(optimizer, 0.1);
    if (std::string(optimizer) != "adamw") s.mutable_training()->set_weight_decay(0.01);
    ASSERT_TRUE(RunPasses(separate, "optimizer", &s).ok());
    const std::string update = std::string("fleet.") + optimizer;
    ASSERT_EQ(CountOps(separate, update), 3);
    Program fused = separate;
    absl::StatusOr<bool> changed = RunPasses(fused, "fuse-optimizer", nullptr);
    ASSERT_TRUE(changed.ok()) << changed.status();
    EXPECT_TRUE(*changed);
    EXPECT_EQ(CountOps(fused, update), 0);
    EXPECT_EQ(CountOps(fused, "fleet.multi_update"), 1);

    Scope a, b;
    Train(separate, separate, a);
    Train(fused, separate, b);
    std::vector<std::string> names = a.LocalNames();
    EXPECT_GE(names.size(), 6u);
    for (const std::string& name : names) {
      const Tensor* want = a.Find(name);
      const Tensor* got = b.Find(name);
      ASSERT_NE(got, nullptr) << name;
      ASSERT_EQ(want->shape(), got->shape()) << name;
      if (want->dtype() != DataType::kF32) continue;
      for (int64_t i = 0; i < want->numel(); ++i) {
        EXPECT_EQ(want->data<float>()[i], got->data<float>()[i]) << name << "[" << i << "]";
      }
    }
  }
}

TEST(FuseOptimizerTest, BadOptionsAndOperandsAreRefused) {
  Program program = ParseOrDie(kThreeParams);
  proto::DistributedStrategy s = Strategy("sgd", 0.1);
  ASSERT_TRUE(RunPasses(program, "optimizer", &s).ok());
  PassManager pm;
  ASSERT_TRUE(pm.AddPipeline("fuse-optimizer", PassRegistry::WithBuiltins()).ok());
  PassContext ctx;
  ctx.SetOption("fuse-optimizer.min-ops", "0");
  absl::StatusOr<bool> refused = pm.Run(program, ctx);
  ASSERT_FALSE(refused.ok());
  EXPECT_THAT(std::string(refused.status().message()),
              HasSubstr("'fuse-optimizer.min-ops' is 0; expected at least 1"));

  // A multi_update naming an update it does not know, and one with a missing gradient.
  KernelTable kernels;
  RegisterCpuKernels(kernels);
  for (
      const auto& [text, error] : std::vector<std::pair<std::string, std::string>>{
          {R"((ParamOut: [%p]) = fleet.multi_update(Param: [%p], Grad: [%g], LearningRate: %lr) {update = "fleet.lamb"} name="m")",
           "attribute update=\"fleet.lamb\"; expected one of fleet.sgd, fleet.momentum"},
          {R"((ParamOut: [%p, %g]) = fleet.multi_update(Param: [%p, %g], Grad: [%g], LearningRate: %lr) {update = "fleet.sgd"} name="m")",
           "4 inputs and 2 outputs; fleet.sgd takes 2 inputs per parameter"}}) {
    Program bad = ParseOrDie(std::string(R"(fleet.program v1 opset=17
block 0 {
  var %p : f32[2] feed fetch
  var %g : f32[2] feed
  var %lr : f32[1] feed
  )") + text + "\n}\n");
    auto exec = Executor::Create(bad, kernels);
    ASSERT_TRUE(exec.ok()) << exec.status();
    Scope scope;
    for (const char* name : {"p", "g"}) scope.Set(name, Tensor::Zeros(DataType::kF32, {2}));
    scope.Set("lr", Tensor::Zeros(DataType::kF32, {1}));
    absl::Status s = (*exec)->Run(scope);
    EXPECT_TRUE(absl::IsInvalidArgument(s)) << s;
    EXPECT_THAT(std::string(s.message()), HasSubstr(error));
  }
}

}  // namespace
}  // namespace fleet
