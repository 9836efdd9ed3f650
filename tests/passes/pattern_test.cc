// Tests of the op-subgraph matcher and the def-use index.
#include "passes/pattern.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/passes/test_programs.h"

namespace fleet {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing_util::ParseOrDie;

constexpr char kProgram[] = R"(fleet.program v1 opset=17
block 0 {
  var %x : f32[4,3] feed
  var %w : f32[3,5] persistable init
  var %b : f32[5] persistable init
  var %y : f32[4,5]
  var %z : f32[4,5]
  var %y2 : f32[4,5]
  var %z2 : f32[4,5]
  var %s : f32[4,5] fetch
  (Y: %y) = MatMul(A: %x, B: %w)
  (C: %z) = Add(A: %b, B: %y)
  (Y: %y2) = MatMul(A: %x, B: %w)
  (C: %z2) = Add(A: %y2, B: %y2)
  (C: %s) = Add(A: %z, B: %z2)
}
block 1 parent 0 {
  (Y: %y) = Relu(X: %z)
}
)";

OpPattern MatMulAdd() {
  return OpPattern("Add")
      .Bind("add")
      .Commutative()
      .Input("A", OpPattern("MatMul").Bind("matmul").SingleUse().InputVar("A", "a"), "y")
      .InputVar("B", "bias");
}

TEST(UseIndexTest, ReadersWritersAndSubBlocks) {
  Program p = ParseOrDie(kProgram);
  UseIndex uses(p, 0);
  EXPECT_EQ(uses.ProducerBefore("y", 1), 0);
  EXPECT_EQ(uses.ProducerBefore("y", 0), -1);
  EXPECT_EQ(uses.ProducerBefore("x", 4), -1);
  EXPECT_THAT(uses.Readers("x"), ElementsAre(0, 2));
  EXPECT_THAT(uses.Readers("y2"), ElementsAre(3, 3));  // read twice by one op
  EXPECT_EQ(uses.SubBlockReads("z"), 1);
  EXPECT_EQ(uses.NumUses("z"), 2);
  EXPECT_TRUE(uses.IsSingleUse("y"));
  EXPECT_FALSE(uses.IsSingleUse("y2"));
  EXPECT_FALSE(uses.IsSingleUse("z"));  // also read by block 1
  EXPECT_EQ(uses.WhyNotSingleUse("s"), "is fetched");
  EXPECT_EQ(uses.WhyNotSingleUse("w"), "has 0 writers in this block");
  EXPECT_EQ(uses.WhyNotSingleUse("z"), "has 2 readers");
}

TEST(PatternTest, MatchesEitherOperandOrderAndCaptures) {
  Program p = ParseOrDie(kProgram);
  UseIndex uses(p, 0);
  std::optional<PatternMatch> m = MatchAt(p.main(), uses, 1, MatMulAdd());
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->root, 1);
  EXPECT_EQ(m->ops.at("add"), 1);
  EXPECT_EQ(m->ops.at("matmul"), 0);
  EXPECT_EQ(m->vars.at("a"), "x");
  EXPECT_EQ(m->vars.at("y"), "y");
  EXPECT_EQ(m->vars.at("bias"), "b");  // the commuted slot
}

TEST(PatternTest, WithoutCommutativeTheOrderMatters) {
  Program p = ParseOrDie(kProgram);
  UseIndex uses(p, 0);
  OpPattern strict = OpPattern("Add").Input("A", OpPattern("MatMul")).InputVar("B", "bias");
  std::string why;
  EXPECT_FALSE(MatchAt(p.main(), uses, 1, strict, &why).has_value());
  EXPECT_EQ(why, "Add input 'A' (b) is not written by an op of this block; expected MatMul");
}

TEST(PatternTest, SingleUseFailureSaysWhy) {
  Program p = ParseOrDie(kProgram);
  UseIndex uses(p, 0);
  std::string why;
  EXPECT_FALSE(MatchAt(p.main(), uses, 3, MatMulAdd(), &why).has_value());
  EXPECT_THAT(why, HasSubstr("MatMul output 'y2' has 2 readers; expected one reader"));
  // A root of another type: no match and no reason (it was never a candidate).
  why.clear();
  EXPECT_FALSE(MatchAt(p.main(), uses, 0, MatMulAdd(), &why).has_value());
  EXPECT_EQ(why, "");
  EXPECT_FALSE(MatchAt(p.main(), uses, 99, MatMulAdd(), &why).has_value());
}

TEST(PatternTest, ProducerTypeMismatch) {
  Program p = ParseOrDie(kProgram);
  UseIndex uses(p, 0);
  std::string why;
  OpPattern relu_add = OpPattern("Add").Input("A", OpPattern("Relu"));
  EXPECT_FALSE(MatchAt(p.main(), uses, 4, relu_add, &why).has_value());
  EXPECT_EQ(why, "Add input 'A' (z): expected Relu, found Add");
}

TEST(PatternTest, FindMatchesDoesNotOverlap) {
  Program p = ParseOrDie(kProgram);
  UseIndex uses(p, 0);
  // Any Add fed by an Add: only op 4 qualifies (its A is op 1); one match.
  std::vector<PatternMatch> ms =
      FindMatches(p.main(), uses, OpPattern("Add").Bind("outer").Input("A", OpPattern("Add")));
  ASSERT_EQ(ms.size(), 1u);
  EXPECT_EQ(ms[0].root, 4);
  // Two patterns that would share op 0 / op 2 are found once each.
  std::vector<PatternMatch> mm = FindMatches(p.main(), uses, OpPattern("MatMul").Bind("m"));
  EXPECT_EQ(mm.size(), 2u);
}

TEST(PatternTest, EraseOps) {
  Program p = ParseOrDie(kProgram);
  EraseOps(p.main(), {3, 0, 3});
  ASSERT_EQ(p.main().ops.size(), 3u);
  EXPECT_EQ(p.main().ops[0].OutputVars()[0], "z");
  EXPECT_EQ(p.main().ops[1].OutputVars()[0], "y2");
  EXPECT_EQ(p.main().ops[2].OutputVars()[0], "s");
}

}  // namespace
}  // namespace fleet
