// Tests for the autodiff pass's own logic (passes/training/autodiff.cc): which vars get
// gradients, how several readers' gradients are added, stop_gradient, and its errors. The
// numbers themselves are checked against finite differences in tests/grad/.
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "ir/grad_builder.h"
#include "passes/builtin_passes.h"
#include "passes/strategy.h"
#include "tests/passes/test_programs.h"

namespace fleet {
namespace {

using ::testing::HasSubstr;
using testing_util::ParseOrDie;

// loss = ReduceSum(x * w * w) with a frozen-able w and an integer side path.
constexpr char kProgram[] = R"(fleet.program v1 opset=17
block 0 {
  var %x : f32[4] feed
  var %w : f32[4] persistable parameter
  var %v : f32[4] persistable parameter
  var %steps : i64[1] persistable
  var %xw : f32[4]
  var %xww : f32[4]
  var %loss : f32[] fetch
  (C: %xw) = Mul(A: %x, B: %w)
  (C: %xww) = Mul(A: %xw, B: %w)
  (reduced: %loss) = ReduceSum(data: %xww) {keepdims = 0} role=loss
}
)";

absl::StatusOr<bool> RunAutodiff(Program& program, const std::vector<std::string>& stop = {}) {
  PassContext ctx;
  proto::DistributedStrategy s;
  for (const std::string& v : stop) s.mutable_training()->add_stop_gradient(v);
  ctx.set_strategy(s);
  return CreateAutodiffPass()->Run(program, ctx);
}

int CountOps(const Block& block, const std::string& type) {
  int n = 0;
  for (const Op& op : block.ops) n += op.type == type;
  return n;
}

TEST(AutodiffPass, GradientsOfReadParametersOnly) {
  Program p = ParseOrDie(kProgram);
  ASSERT_TRUE(RunAutodiff(p).ok());
  const Block& b = p.main();
  ASSERT_NE(b.FindVar("w@GRAD"), nullptr);
  EXPECT_TRUE(b.FindVar("w")->Has(kVarTrainable));
  // v is a parameter no op reads: no gradient, not trainable.
  EXPECT_EQ(b.FindVar("v@GRAD"), nullptr);
  EXPECT_FALSE(b.FindVar("v")->Has(kVarTrainable));
  EXPECT_EQ(b.FindVar("x@GRAD"), nullptr);  // a feed needs no gradient
  // w is read twice: two parts, added once.
  EXPECT_EQ(CountOps(b, "fleet.grad_sum"), 1);
  EXPECT_EQ(p.meta.training.loss, "loss");
  EXPECT_TRUE(p.meta.IsTraining());
  for (size_t i = 3; i < b.ops.size(); ++i) {
    EXPECT_TRUE(HasRole(b.ops[i], kRoleBackward)) << b.ops[i].Describe();
  }
}

TEST(AutodiffPass, MarksTheForwardPart) {
  Program p = ParseOrDie(kProgram);
  ASSERT_TRUE(RunAutodiff(p).ok());
  const Block& b = p.main();
  EXPECT_EQ(b.ops[0].role, kRoleForward);
  EXPECT_EQ(b.ops[1].role, kRoleForward);
  EXPECT_EQ(b.ops[2].role, kRoleForward | kRoleLoss);
  for (size_t i = 0; i < b.ops.size(); ++i) {
    EXPECT_FALSE(HasNoRole(b.ops[i])) << b.ops[i].Describe();
    EXPECT_EQ(IsForward(b.ops[i]), i < 3) << b.ops[i].Describe();
  }
}

// The pair (w, w@GRAD) sits on the op that writes w's final gradient: the grad_sum of its two
// parts, and on no other op.
TEST(AutodiffPass, RecordsThePairOnTheFinalGradientWriter) {
  Program p = ParseOrDie(kProgram);
  ASSERT_TRUE(RunAutodiff(p).ok());
  int with_pairs = 0;
  for (const Op& op : p.main().ops) {
    if (op.role_vars.empty()) continue;
    ++with_pairs;
    EXPECT_EQ(op.type, "fleet.grad_sum");
    EXPECT_EQ(op.FindOutput("Out")->vars, std::vector<std::string>{"w@GRAD"});
    EXPECT_TRUE(op.role_vars == (std::vector<RoleVar>{{"w", "w@GRAD"}}));
  }
  EXPECT_EQ(with_pairs, 1);
}

TEST(AutodiffPass, StopGradientOnAnActivationCutsThePath) {
  Program p = ParseOrDie(kProgram);
  ASSERT_TRUE(RunAutodiff(p, {"xw"}).ok());
  // Only the second Mul's direct use of w remains: one part, no sum.
  EXPECT_NE(p.main().FindVar("w@GRAD"), nullptr);
  EXPECT_EQ(CountOps(p.main(), "fleet.grad_sum"), 0);
}

TEST(AutodiffPass, FrozenParameterLeavesNothingToTrain) {
  Program p = ParseOrDie(kProgram);
  absl::StatusOr<bool> r = RunAutodiff(p, {"w"});
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("no parameter has a differentiable path"));
}

TEST(AutodiffPass, UnknownStopGradientVarIsAnError) {
  Program p = ParseOrDie(kProgram);
  absl::StatusOr<bool> r = RunAutodiff(p, {"nope"});
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("'nope'"));
}

TEST(AutodiffPass, NeedsALoss) {
  Program p = ParseOrDie(testing_util::kMatMulAddProgram);
  absl::StatusOr<bool> r = RunAutodiff(p);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(r.status().message(), HasSubstr("run the loss pass first"));
}

TEST(AutodiffPass, RunsOnce) {
  Program p = ParseOrDie(kProgram);
  ASSERT_TRUE(RunAutodiff(p).ok());
  absl::StatusOr<bool> r = RunAutodiff(p);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("autodiff runs once"));
}

TEST(AutodiffPass, OpWithoutARuleOnThePathIsNamed) {
  Program p = ParseOrDie(R"(fleet.program v1 opset=17
block 0 {
  var %w : f32[4] persistable parameter
  var %f : f32[4]
  var %loss : f32[] fetch
  (Y: %f) = Floor(X: %w) name="round_down"
  (reduced: %loss) = ReduceSum(data: %f) {keepdims = 0} role=loss
}
)");
  absl::StatusOr<bool> r = RunAutodiff(p);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_THAT(r.status().message(), HasSubstr("'round_down' (Floor): no gradient rule for Floor"));
}

TEST(AutodiffPass, IntegerPathsCarryNoGradient) {
  Program p = ParseOrDie(R"(fleet.program v1 opset=17
block 0 {
  var %w : f32[4] persistable parameter
  var %i : i64[4]
  var %f : f32[4]
  var %loss : f32[] fetch
  (output: %i) = Cast(input: %w) {to = 7}
  (output: %f) = Cast(input: %i) {to = 1}
  (reduced: %loss) = ReduceSum(data: %f) {keepdims = 0} role=loss
}
)");
  absl::StatusOr<bool> r = RunAutodiff(p);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("no parameter has a differentiable path"));
}

}  // namespace
}  // namespace fleet
