// The verifier's shape checks (ir/verify_shapes.cc): a declared output that disagrees with what
// its inputs give, or inputs that cannot go together, is INVALID_ARGUMENT naming the op, the
// output and both types; unknown dims, ranks and dtypes agree with anything; ops without an
// inference function are not checked; sub-blocks and Constant-fed shapes are covered; and
// RefineOutputTypes fills in what a declaration leaves unknown.
#include "ir/verify_shapes.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "ir/verify.h"
#include "tests/ir/shape_test_util.h"

namespace fleet {
namespace {

using ::testing::HasSubstr;
using testing_util::MakeProgram;

// A MatMul of x f32[4,8] and w f32[8,10] whose output is declared as `y_type`.
Program Fc(const std::string& y_type) {
  return MakeProgram("var %x : f32[4,8] feed\nvar %w : f32[8,10] persistable init\nvar %y : " +
                     y_type + " fetch\n(Y: %y) = MatMul(A: %x, B: %w) name=\"fc2\"");
}

TEST(VerifyShapesTest, AMismatchedOutputNamesTheOpAndBothTypes) {
  absl::Status s = Verify(Fc("f32[4,20]"));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(),
            "prog.txt:6:1: op 'fc2' (MatMul): output 'Y' ('y') is declared f32[4,20]; its inputs "
            "give f32[4,10]");
  EXPECT_THAT(Verify(Fc("i64[4,10]")).message(), HasSubstr("is declared i64[4,10]"));
  EXPECT_THAT(Verify(Fc("f32[4,10,1]")).message(), HasSubstr("is declared f32[4,10,1]"));
}

TEST(VerifyShapesTest, UnknownDeclarationsAgree) {
  for (const char* declared : {"f32[4,10]", "f32[?,10]", "f32[?,?]", "f32", "undef"}) {
    EXPECT_TRUE(Verify(Fc(declared)).ok()) << declared << ": " << Verify(Fc(declared));
  }
}

TEST(VerifyShapesTest, InputsThatCannotGoTogetherAreRejected) {
  absl::Status s = Verify(MakeProgram(
      "var %x : f32[4,8] feed\nvar %w : f32[9,10] persistable init\nvar %y : f32 fetch\n"
      "(Y: %y) = MatMul(A: %x, B: %w) name=\"fc2\""));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(),
            "prog.txt:6:1: op 'fc2' (MatMul): inputs 'A' f32[4,8] and 'B' f32[9,10] cannot be "
            "multiplied: inner dims 8 vs 9");
}

TEST(VerifyShapesTest, ProgramsWithoutAFileNameTheirSource) {
  Program p = Fc("f32[4,20]");
  for (Op& op : p.main().ops) op.loc = Location{};
  p.source = "model.program";
  EXPECT_THAT(Verify(p).message(), HasSubstr("model.program: op 'fc2' (MatMul): output 'Y'"));
}

TEST(VerifyShapesTest, OpsWithoutInferenceAreNotChecked) {
  // Einsum has no inference function: any declared output passes.
  EXPECT_TRUE(Verify(MakeProgram("var %x : f32[4,8] feed\nvar %y : f32[7] fetch\n"
                                 "(Output: %y) = Einsum(Inputs: %x) {equation = \"ij->ji\"}"))
                  .ok());
}

TEST(VerifyShapesTest, SubBlocksAreChecked) {
  Program p = MakeProgram(
      "var %x : f32[4,8] feed\n}\nblock 1 parent 0 {\n"
      "var %y : f32[4,9]\n(Y: %y) = Relu(X: %x) name=\"inner\"");
  absl::Status s = Verify(p);
  EXPECT_THAT(s.message(), HasSubstr("op 'inner' (Relu): output 'Y' ('y') is declared f32[4,9]; "
                                     "its inputs give f32[4,8]"));
}

TEST(VerifyShapesTest, AConstantOpGivesReshapeItsShape) {
  const std::string body =
      "var %x : f32[2,6] feed\nvar %s : i64[2]\nvar %y : f32[3,5] fetch\n"
      "(output: %s) = Constant() {value = dense<i64[2]>[3, 4]}\n"
      "(reshaped: %y) = Reshape(data: %x, shape: %s) name=\"r\"";
  EXPECT_THAT(Verify(MakeProgram(body)).message(),
              HasSubstr("op 'r' (Reshape): output 'reshaped' ('y') is declared f32[3,5]; its "
                        "inputs give f32[3,4]"));
}

TEST(VerifyShapesTest, AnInitialValueAnOpOverwritesIsNoConstant) {
  // %s starts as [3, 4] but an op writes it: only its length is known.
  Program p = MakeProgram(
      "var %x : f32[2,6] feed\nvar %s : i64[2] persistable init\nvar %t : i64[2] feed\n"
      "var %y : f32[3,5] fetch\n(output: %s) = Identity(input: %t)\n"
      "(reshaped: %y) = Reshape(data: %x, shape: %s)",
      {{"s", {3, 4}}});
  EXPECT_TRUE(Verify(p).ok()) << Verify(p);
}

TEST(VerifyShapesTest, CoverageCountsOutputs) {
  Program p = MakeProgram(
      "var %x : f32[?,8] feed\nvar %w : f32[8,10] persistable init\nvar %h : f32[?,10]\n"
      "var %s : i64[2] feed\nvar %r : f32[?,5]\nvar %e : f32\n"
      "(Y: %h) = MatMul(A: %x, B: %w)\n"
      "(reshaped: %r) = Reshape(data: %h, shape: %s)\n"
      "(Output: %e) = Einsum(Inputs: %r) {equation = \"ij->ji\"}");
  ShapeCoverage c;
  ASSERT_TRUE(VerifyShapes(p, &c).ok());
  EXPECT_EQ(c.outputs, 3);
  EXPECT_EQ(c.inferred, 2);    // Einsum has no function
  EXPECT_EQ(c.known_rank, 2);  // the reshape's rank comes from the length of %s
  EXPECT_EQ(c.as_precise, 1);  // ...but not its dim 1, which the declaration knows
}

TEST(VerifyShapesTest, RefineFillsWhatTheDeclarationLeavesUnknown) {
  Program p = MakeProgram(
      "var %x : f32[?,8] feed\nvar %w : f32[8,10] persistable init\nvar %y : undef\n"
      "var %z : f32[5,?]\n(Y: %y) = MatMul(A: %x, B: %w)\n(Y: %z) = MatMul(A: %x, B: %w)");
  ASSERT_TRUE(RefineOutputTypes(p, 0, p.main().ops[0]).ok());
  EXPECT_EQ(p.main().FindVar("y")->dtype, DataType::kF32);
  EXPECT_EQ(p.main().FindVar("y")->shape, (Shape{-1, 10}));
  ASSERT_TRUE(RefineOutputTypes(p, 0, p.main().ops[1]).ok());
  EXPECT_EQ(p.main().FindVar("z")->shape, (Shape{5, 10}));  // keeps the declared 5
  Program bad = Fc("f32[4,20]");
  absl::Status s = RefineOutputTypes(bad, 0, bad.main().ops[0]);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("is declared f32[4,20]; its inputs give f32[4,10]"));
}

}  // namespace
}  // namespace fleet
