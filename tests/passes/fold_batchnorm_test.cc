// fold-batchnorm: the folded program computes what Conv + BatchNormalization computed (both run
// through the CPU kernels on random inputs), and the pass stays away from what it cannot fold.
#include <cmath>
#include <cstring>
#include <random>

#include "executor/executor.h"
#include "gtest/gtest.h"
#include "ir/verify.h"
#include "kernels/cpu/register.h"
#include "passes/registry.h"

namespace fleet {
namespace {

TensorValue RandomValue(std::vector<int64_t> shape, std::mt19937& rng, float lo, float hi) {
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(static_cast<size_t>(NumElements(shape)));
  for (float& f : v) f = dist(rng);
  TensorValue t{DataType::kF32, std::move(shape), std::string()};
  t.bytes.assign(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float));
  return t;
}

void AddVar(Program& p, const std::string& name, std::vector<int64_t> shape, uint32_t flags) {
  Var v;
  v.name = name;
  v.dtype = DataType::kF32;
  v.shape = std::move(shape);
  v.flags = flags;
  p.main().AddVar(std::move(v));
}

// y = BatchNormalization(Conv(x, w, b)), x f32[2,3,6,6], w f32[4,3,3,3], pads 1.
Program ConvBn(std::mt19937& rng) {
  Program p;
  AddVar(p, "x", {2, 3, 6, 6}, kVarFeed);
  for (const auto& [name, shape] : std::vector<std::pair<std::string, std::vector<int64_t>>>{
           {"w", {4, 3, 3, 3}}, {"b", {4}}, {"scale", {4}}, {"shift", {4}}, {"mean", {4}}}) {
    AddVar(p, name, shape, kVarPersistable | kVarParameter);
    p.values[name] = RandomValue(shape, rng, -1.f, 1.f);
  }
  AddVar(p, "var", {4}, kVarPersistable | kVarParameter);
  p.values["var"] = RandomValue({4}, rng, 0.1f, 2.f);
  AddVar(p, "c", {2, 4, 6, 6}, 0);
  AddVar(p, "y", {2, 4, 6, 6}, kVarFetch);
  Op conv;
  conv.type = "Conv";
  conv.name = "conv";
  conv.inputs = {{"X", {"x"}}, {"W", {"w"}}, {"B", {"b"}}};
  conv.outputs = {{"Y", {"c"}}};
  conv.attrs["pads"] = std::vector<int64_t>{1, 1, 1, 1};
  Op bn;
  bn.type = "BatchNormalization";
  bn.name = "bn";
  bn.inputs = {{"X", {"c"}}, {"scale", {"scale"}}, {"B", {"shift"}}, {"input_mean", {"mean"}},
               {"input_var", {"var"}}};
  bn.outputs = {{"Y", {"y"}}, {"running_mean", {}}, {"running_var", {}}};
  bn.attrs["epsilon"] = 1e-3f;
  p.main().ops = {conv, bn};
  return p;
}

Tensor Execute(const Program& p, const Tensor& x) {
  KernelTable kernels;
  RegisterCpuKernels(kernels);
  auto exec = Executor::Create(p, kernels);
  EXPECT_TRUE(exec.ok()) << exec.status();
  Scope scope;
  scope.Set("x", x);
  absl::Status s = (*exec)->Run(scope);
  EXPECT_TRUE(s.ok()) << s;
  return *scope.Find("y");
}

absl::StatusOr<bool> Fold(Program& p, PassContext& ctx) {
  auto pass = PassRegistry::WithBuiltins().Create("fold-batchnorm");
  if (!pass.ok()) return pass.status();
  return (*pass)->Run(p, ctx);
}

TEST(FoldBatchNormTest, FoldedConvComputesTheSameAsConvPlusBatchNorm) {
  std::mt19937 rng(3);
  Program p = ConvBn(rng);
  Tensor x = Tensor::FromValue(RandomValue({2, 3, 6, 6}, rng, -2.f, 2.f));
  Tensor before = Execute(p, x);
  PassContext ctx;
  auto changed = Fold(p, ctx);
  ASSERT_TRUE(changed.ok()) << changed.status();
  EXPECT_TRUE(*changed);
  ASSERT_EQ(p.main().ops.size(), 1u);
  EXPECT_EQ(p.main().ops[0].type, "Conv");
  EXPECT_EQ(p.main().ops[0].outputs[0].vars, std::vector<std::string>{"y"});
  // The originals nothing reads any more are gone, values included.
  for (const char* gone : {"w", "b", "scale", "shift", "mean", "var", "c"}) {
    EXPECT_EQ(p.main().FindVar(gone), nullptr) << gone;
    EXPECT_EQ(p.values.count(gone), 0u) << gone;
  }
  Tensor after = Execute(p, x);
  ASSERT_EQ(after.shape(), before.shape());
  for (int64_t i = 0; i < after.numel(); ++i) {
    float e = before.data<float>()[i], a = after.data<float>()[i];
    EXPECT_NEAR(a, e, 1e-4f + 1e-4f * std::fabs(e)) << "at " << i;
  }
}

TEST(FoldBatchNormTest, LeavesWhatItCannotFoldAndSaysWhy) {
  std::mt19937 rng(4);
  {  // training mode
    Program p = ConvBn(rng);
    p.main().ops[1].attrs["training_mode"] = int64_t{1};
    PassContext ctx;
    EXPECT_FALSE(*Fold(p, ctx));
    EXPECT_EQ(p.main().ops.size(), 2u);
  }
  {  // the Conv result is also fetched: it must stay
    Program p = ConvBn(rng);
    p.main().FindVar("c")->flags = kVarFetch;
    PassContext ctx;
    EXPECT_FALSE(*Fold(p, ctx));
  }
  {  // weights fed at run time are not constant
    Program p = ConvBn(rng);
    p.main().FindVar("w")->flags = kVarFeed;
    p.values.erase("w");
    PassContext ctx;
    EXPECT_FALSE(*Fold(p, ctx));
    EXPECT_EQ(p.main().ops.size(), 2u);
  }
}

TEST(FoldBatchNormTest, SharedWeightsStayForTheirOtherReader) {
  std::mt19937 rng(5);
  Program p = ConvBn(rng);
  AddVar(p, "z", {2, 4, 6, 6}, kVarFetch);
  Op other = p.main().ops[0];
  other.name = "other";
  other.outputs = {{"Y", {"z"}}};
  p.main().ops.push_back(other);
  PassContext ctx;
  ASSERT_TRUE(*Fold(p, ctx));
  EXPECT_NE(p.main().FindVar("w"), nullptr);
  EXPECT_EQ(p.values.count("w"), 1u);
  EXPECT_EQ(p.main().ops.size(), 2u);
}

// The same Conv + BatchNormalization inside a sub-block folds as in the main block: same op,
// same folded values (the main-block fold is checked against the kernels above).
TEST(FoldBatchNormTest, FoldsInsideASubBlock) {
  std::mt19937 rng_main(6), rng_sub(6);
  Program in_main = ConvBn(rng_main);
  Program in_sub = ConvBn(rng_sub);
  int body = in_sub.AddBlock(0);
  in_sub.blocks[body].ops = std::move(in_sub.main().ops);
  in_sub.main().ops.clear();
  Var c = *in_sub.main().FindVar("c");
  in_sub.main().RemoveVar("c");
  in_sub.blocks[body].AddVar(c);
  ASSERT_TRUE(Verify(in_sub).ok()) << Verify(in_sub);

  PassContext ctx;
  ASSERT_TRUE(*Fold(in_main, ctx));
  absl::StatusOr<bool> changed = Fold(in_sub, ctx);
  ASSERT_TRUE(changed.ok()) << changed.status();
  EXPECT_TRUE(*changed);
  EXPECT_TRUE(Verify(in_sub).ok()) << Verify(in_sub);
  ASSERT_EQ(in_sub.blocks[body].ops.size(), 1u);
  const Op& conv = in_sub.blocks[body].ops[0];
  EXPECT_EQ(conv.type, "Conv");
  EXPECT_EQ(conv.outputs[0].vars, std::vector<std::string>{"y"});
  EXPECT_EQ(in_sub.blocks[body].FindVar("c"), nullptr);
  const Op& reference = in_main.main().ops[0];
  for (const char* slot : {"W", "B"}) {
    const std::string& name = conv.FindInput(slot)->vars[0];
    EXPECT_EQ(name, reference.FindInput(slot)->vars[0]) << slot;
    ASSERT_EQ(in_sub.values.count(name), 1u) << name;
    EXPECT_EQ(in_sub.values.at(name), in_main.values.at(name)) << name;
    EXPECT_NE(in_sub.main().FindVar(name), nullptr) << "declared beside the parameters";
  }
  for (const char* gone : {"w", "b", "scale", "shift", "mean", "var"}) {
    EXPECT_EQ(in_sub.main().FindVar(gone), nullptr) << gone;
    EXPECT_EQ(in_sub.values.count(gone), 0u) << gone;
  }
}

}  // namespace
}  // namespace fleet
