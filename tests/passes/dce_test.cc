// Tests of dce beyond the golden file: side-effecting ops, sub-blocks, initial values.
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "ir/op_schema.h"
#include "ir/verify.h"
#include "passes/registry.h"
#include "tests/passes/test_programs.h"

namespace fleet {
namespace {

using testing_util::ParseOrDie;

absl::StatusOr<bool> RunDce(Program& p, PassContext& ctx) {
  absl::StatusOr<std::unique_ptr<Pass>> dce = PassRegistry::WithBuiltins().Create("dce");
  EXPECT_TRUE(dce.ok());
  absl::StatusOr<bool> changed = (*dce)->Run(p, ctx);
  EXPECT_TRUE(Verify(p).ok()) << Verify(p);
  return changed;
}

TEST(DceTest, KeepsSideEffectingOpsAndSaysWhy) {
  OpSchema schema;
  schema.type = "test.print";
  SlotSpec x, y;
  x.name = "X";
  y.name = "Y";
  schema.inputs = {x};
  schema.outputs = {y};
  schema.traits = kTraitSideEffect;
  RegisterOpSchema(schema);
  Program p = ParseOrDie(R"(fleet.program v1
block 0 {
  var %x : f32[2] feed
  var %y : f32[2]
  (Y: %y) = "test.print"(X: %x)
}
)");
  PassContext ctx;
  ctx.set_current_pass("dce");
  EXPECT_FALSE(*RunDce(p, ctx));
  EXPECT_EQ(p.main().ops.size(), 1u);
  ASSERT_EQ(ctx.diagnostics().size(), 1u);
  EXPECT_EQ(ctx.diagnostics()[0].ToString(),
            "dce: test.txt:5:3: op (test.print): kept although its results are unused: has "
            "side effects");
}

TEST(DceTest, ValuesOfRemovedVarsGo) {
  Program p = ParseOrDie(R"(fleet.program v1 opset=17
block 0 {
  var %x : f32[2] feed
  var %c : f32[2] init
  var %t : f32[2]
  var %y : f32[2] fetch
  (C: %t) = Add(A: %x, B: %c)
  (Y: %y) = Relu(X: %x)
}
)");
  ASSERT_EQ(p.values.count("c"), 1u);
  PassContext ctx;
  EXPECT_TRUE(*RunDce(p, ctx));
  EXPECT_EQ(p.main().ops.size(), 1u);
  EXPECT_EQ(p.main().FindVar("c"), nullptr);
  EXPECT_EQ(p.main().FindVar("t"), nullptr);
  EXPECT_EQ(p.values.count("c"), 0u);
}

TEST(DceTest, SubBlocksKeepParentValuesAndAreCleanedThemselves) {
  Program p = ParseOrDie(R"(fleet.program v1 opset=17
block 0 {
  var %x : f32[2] feed
  var %t : f32[2]
  var %u : f32[2]
  (Y: %t) = Relu(X: %x)
  (Y: %u) = Sigmoid(X: %x)
}
block 1 parent 0 {
  var %k : f32[2] persistable
  var %d : f32[2]
  (Y: %k) = Relu(X: %t)
  (Y: %d) = Relu(X: %u)
}
)");
  PassContext ctx;
  EXPECT_TRUE(*RunDce(p, ctx));
  // Block 1's dead Relu goes first, so %u and its Sigmoid go too; %t feeds a persistable write.
  ASSERT_EQ(p.blocks[1].ops.size(), 1u);
  EXPECT_EQ(p.blocks[1].ops[0].OutputVars()[0], "k");
  ASSERT_EQ(p.main().ops.size(), 1u);
  EXPECT_EQ(p.main().ops[0].type, "Relu");
  EXPECT_EQ(p.main().FindVar("u"), nullptr);
  EXPECT_EQ(p.blocks[1].FindVar("d"), nullptr);
  // A second run finds nothing.
  EXPECT_FALSE(*RunDce(p, ctx));
}

}  // namespace
}  // namespace fleet
