// Numbers for the example rewrite: the program before and after fuse-matmul-add (the plugin,
// loaded as fleet-transpile loads it) computes the same outputs on random inputs, run by the
// executor with the CPU kernels. Also checks which ops the rewrite leaves.
#include <random>

#include "executor/executor.h"
#include "executor/scope.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kernels/cpu/register.h"
#include "passes/pass_manager.h"
#include "passes/registry.h"
#include "tests/passes/test_programs.h"

namespace fleet {
namespace {

using testing_util::ParseOrDie;

std::vector<std::string> OpTypes(const Program& p) {
  std::vector<std::string> types;
  for (const Op& op : p.main().ops) types.push_back(op.type);
  return types;
}

template <typename T>
Tensor RandomTensor(DataType dtype, const std::vector<int64_t>& shape, std::mt19937& rng) {
  Tensor t(dtype, shape);
  std::uniform_real_distribution<double> dist(-1.0, 1.0);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<T>()[i] = static_cast<T>(dist(rng));
  return t;
}

class FuseNumbersTest : public ::testing::Test {
 protected:
  void SetUp() override {
    registry_ = PassRegistry::WithBuiltins();
    ASSERT_TRUE(registry_.LoadPlugin(FLEET_FUSE_MATMUL_ADD_PATH).ok());
    RegisterCpuKernels(kernels_);
  }

  // Runs `pipeline` over a copy of `before`.
  Program Transform(const Program& before, const std::string& pipeline) {
    Program after = before;
    PassManager pm;
    absl::Status added = pm.AddPipeline(pipeline, registry_);
    EXPECT_TRUE(added.ok()) << added;
    PassContext ctx;
    absl::StatusOr<bool> changed = pm.Run(after, ctx);
    EXPECT_TRUE(changed.ok()) << changed.status();
    return after;
  }

  // Runs both programs on the same random feeds (and random values for every initialised
  // persistable var) and compares every fetch var within `tol`.
  template <typename T>
  void ExpectSameOutputs(Program before, Program after, DataType dtype, double tol) {
    std::mt19937 rng(1234);
    Scope scope;
    for (const Var& v : before.main().vars()) {
      if (!v.Has(kVarFeed) && !before.values.count(v.name)) continue;
      ASSERT_TRUE(v.shape.has_value()) << v.name;
      scope.Set(v.name, RandomTensor<T>(dtype, *v.shape, rng));
    }
    std::vector<std::string> fetches;
    for (const Var& v : before.main().vars()) {
      if (v.Has(kVarFetch)) fetches.push_back(v.name);
    }
    ASSERT_FALSE(fetches.empty());
    std::map<std::string, Tensor> results[2];
    Program* programs[2] = {&before, &after};
    for (int k = 0; k < 2; ++k) {
      // The scope already holds every persistable value, so the placeholders are not read.
      Scope run(&scope);
      absl::StatusOr<std::unique_ptr<Executor>> exec = Executor::Create(*programs[k], kernels_);
      ASSERT_TRUE(exec.ok()) << exec.status();
      absl::Status ran = (*exec)->Run(run);
      ASSERT_TRUE(ran.ok()) << ran;
      for (const std::string& f : fetches) {
        const Tensor* t = run.Find(f);
        ASSERT_NE(t, nullptr) << f;
        results[k][f] = *t;
      }
    }
    for (const std::string& f : fetches) {
      const Tensor& a = results[0][f];
      const Tensor& b = results[1][f];
      ASSERT_EQ(a.shape(), b.shape()) << f;
      for (int64_t i = 0; i < a.numel(); ++i) {
        EXPECT_NEAR(a.data<T>()[i], b.data<T>()[i], tol) << f << "[" << i << "]";
      }
    }
  }

  PassRegistry registry_;
  KernelTable kernels_;
};

TEST_F(FuseNumbersTest, FeedsF32) {
  Program before = ParseOrDie(testing_util::kMatMulAddProgram);
  Program after = Transform(before, "fuse-matmul-add");
  EXPECT_THAT(OpTypes(after), ::testing::ElementsAre("Gemm"));
  EXPECT_EQ(after.main().FindVar("y"), nullptr);
  ExpectSameOutputs<float>(before, after, DataType::kF32, 1e-5);
}

// An MLP with parameters, a bias added from the left, a ReLU between layers, and one
// MatMul + Add that must stay (its MatMul result is also fetched).
constexpr char kMlp[] = R"(fleet.program v1 opset=17
block 0 {
  var %x : f64[8,16] feed
  var %w1 : f64[16,32] persistable parameter init
  var %b1 : f64[32] persistable parameter init
  var %w2 : f64[32,4] persistable parameter init
  var %b2 : f64[4] persistable parameter init
  var %w3 : f64[4,4] persistable parameter init
  var %b3 : f64[4] persistable parameter init
  var %h1 : f64[8,32]
  var %a1 : f64[8,32]
  var %r1 : f64[8,32]
  var %h2 : f64[8,4]
  var %a2 : f64[8,4]
  var %h3 : f64[8,4] fetch
  var %out : f64[8,4] fetch
  (Y: %h1) = MatMul(A: %x, B: %w1)
  (C: %a1) = Add(A: %b1, B: %h1)
  (Y: %r1) = Relu(X: %a1)
  (Y: %h2) = MatMul(A: %r1, B: %w2)
  (C: %a2) = Add(A: %h2, B: %b2)
  (Y: %h3) = MatMul(A: %a2, B: %w3)
  (C: %out) = Add(A: %h3, B: %b3)
}
)";

TEST_F(FuseNumbersTest, MlpWithParametersF64) {
  Program before = ParseOrDie(kMlp);
  Program after = Transform(before, "fuse-matmul-add,dce");
  EXPECT_THAT(OpTypes(after), ::testing::ElementsAre("Gemm", "Relu", "Gemm", "MatMul", "Add"));
  ExpectSameOutputs<double>(before, after, DataType::kF64, 1e-12);
}

// Must not fire on a batched (3-D) A: Gemm has no batch dims.
TEST_F(FuseNumbersTest, BatchedMatMulStays) {
  Program before = ParseOrDie(R"(fleet.program v1 opset=17
block 0 {
  var %x : f32[2,4,3] feed
  var %w : f32[3,5] feed
  var %b : f32[5] feed
  var %y : f32[2,4,5]
  var %z : f32[2,4,5] fetch
  (Y: %y) = MatMul(A: %x, B: %w)
  (C: %z) = Add(A: %y, B: %b)
}
)");
  Program after = Transform(before, "fuse-matmul-add");
  EXPECT_THAT(OpTypes(after), ::testing::ElementsAre("MatMul", "Add"));
  ExpectSameOutputs<float>(before, after, DataType::kF32, 0);
}

}  // namespace
}  // namespace fleet
