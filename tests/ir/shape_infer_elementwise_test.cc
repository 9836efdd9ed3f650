// Shape inference of the elementwise family (ir/shape_infer_elementwise.cc): numpy broadcasting
// with known, unknown and missing dims, fixed result dtypes (comparisons, Cast, Dropout's mask),
// Constant's value, and the errors for operands that do not broadcast.
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/ir/shape_test_util.h"

namespace fleet {
namespace {

using ::testing::HasSubstr;
using testing_util::InferLastOp;
using testing_util::InferY;
using testing_util::MakeProgram;

// "var %a : <a>  var %b : <b>  (C: %y) = <op>(A: %a, B: %b)"
absl::StatusOr<std::string> Binary(const std::string& op, const std::string& a,
                                   const std::string& b) {
  return InferY("var %a : " + a + "\nvar %b : " + b + "\nvar %y : undef\n(C: %y) = " + op +
                "(A: %a, B: %b)");
}

TEST(ElementwiseInferTest, BroadcastsKnownDims) {
  // numpy: (2,1,4) + (3,1) -> (2,3,4); (5,) + () -> (5,); (1,) + (7,) -> (7,)
  EXPECT_EQ(*Binary("Add", "f32[2,1,4]", "f32[3,1]"), "f32[2,3,4]");
  EXPECT_EQ(*Binary("Mul", "f32[5]", "f32[]"), "f32[5]");
  EXPECT_EQ(*Binary("Sub", "f64[1]", "f64[7]"), "f64[7]");
  EXPECT_EQ(*Binary("Div", "f32[4,3]", "f32[4,3]"), "f32[4,3]");
}

TEST(ElementwiseInferTest, UnknownDimsStayUnknownUnlessTheOtherSideDecides) {
  // An unknown dim against n > 1 can only be 1 or n: the result is n. Against 1 or another
  // unknown, the result is unknown.
  EXPECT_EQ(*Binary("Add", "f32[?,4]", "f32[4]"), "f32[?,4]");
  EXPECT_EQ(*Binary("Add", "f32[?,1]", "f32[3,5]"), "f32[3,5]");
  EXPECT_EQ(*Binary("Add", "f32[?]", "f32[1]"), "f32[?]");
  EXPECT_EQ(*Binary("Add", "f32[?]", "f32[?]"), "f32[?]");
  // Unknown rank on either side: the rank is unknown too, the dtype is still known.
  EXPECT_EQ(*Binary("Add", "f32", "f32[3]"), "f32[...]");
}

TEST(ElementwiseInferTest, ComparisonsGiveBool) {
  EXPECT_EQ(*Binary("Equal", "i64[4,1]", "i64[5]"), "bool[4,5]");
  EXPECT_EQ(*Binary("Less", "f32[2]", "f32[2]"), "bool[2]");
  EXPECT_EQ(*Binary("And", "bool[3]", "bool[]"), "bool[3]");
}

TEST(ElementwiseInferTest, OperandsThatDoNotBroadcastAreRejected) {
  absl::StatusOr<std::string> r = Binary("Add", "f32[2,3]", "f32[4]");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(),
              HasSubstr("prog.txt:6:1: op (Add): inputs 'A' [2,3] and 'B' [4] do not broadcast: "
                        "3 vs 4 in dim -1"));
}

TEST(ElementwiseInferTest, VariadicOpsBroadcastEveryInput) {
  EXPECT_EQ(*InferY("var %a : f32[3,1]\nvar %b : f32[4]\nvar %c : f32[2,1,1]\nvar %y : undef\n"
                    "(sum: %y) = Sum(data_0: [%a, %b, %c])"),
            "f32[2,3,4]");
  EXPECT_EQ(*InferY("var %a : f32[3]\nvar %y : undef\n(max: %y) = Max(data_0: %a)"), "f32[3]");
  absl::StatusOr<std::string> bad = InferY(
      "var %a : f32[3]\nvar %b : f32[3]\nvar %c : f32[2]\nvar %y : undef\n"
      "(min: %y) = Min(data_0: [%a, %b, %c])");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("'data_0[2]' [2] do not broadcast"));
}

TEST(ElementwiseInferTest, WhereBroadcastsAllThreeAndTakesXsDtype) {
  EXPECT_EQ(*InferY("var %c : bool[4,1]\nvar %a : f32[3]\nvar %b : f32[]\nvar %y : undef\n"
                    "(output: %y) = Where(condition: %c, X: %a, Y: %b)"),
            "f32[4,3]");
}

TEST(ElementwiseInferTest, UnaryOpsKeepTheirInputsType) {
  EXPECT_EQ(*InferY("var %x : f32[?,7]\nvar %y : undef\n(Y: %y) = Relu(X: %x)"), "f32[?,7]");
  EXPECT_EQ(*InferY("var %x : f64[2]\nvar %y : undef\n(output: %y) = Erf(input: %x)"), "f64[2]");
  EXPECT_EQ(*InferY("var %x : f32\nvar %y : undef\n(Y: %y) = Sigmoid(X: %x)"), "f32[...]");
  EXPECT_EQ(*InferY("var %x : f32[3]\nvar %lo : f32[]\nvar %y : undef\n"
                    "(output: %y) = Clip(input: %x, min: %lo)"),
            "f32[3]");
  EXPECT_EQ(*InferY("var %x : f32[3,2]\nvar %y : undef\n(Y: %y) = IsNaN(X: %x)"), "bool[3,2]");
  EXPECT_EQ(*InferY("var %x : f32[6,2]\nvar %s : f32[2]\nvar %y : undef\n"
                    "(Y: %y) = PRelu(X: %x, slope: %s)"),
            "f32[6,2]");
}

TEST(ElementwiseInferTest, CastTakesTheTargetDtype) {
  // to = 7 is ONNX's INT64, 1 FLOAT, 9 BOOL.
  EXPECT_EQ(*InferY("var %x : f32[?,3]\nvar %y : undef\n(output: %y) = Cast(input: %x) {to = 7}"),
            "i64[?,3]");
  EXPECT_EQ(*InferY("var %x : bool[2]\nvar %y : undef\n(output: %y) = Cast(input: %x) {to = 1}"),
            "f32[2]");
  EXPECT_EQ(*InferY("var %x : i32[5]\nvar %t : f64[]\nvar %y : undef\n"
                    "(output: %y) = CastLike(input: %x, target_type: %t)"),
            "f64[5]");
}

TEST(ElementwiseInferTest, DropoutsMaskIsBoolShapedLikeItsInput) {
  auto types =
      InferLastOp(MakeProgram("var %x : f32[4,?]\nvar %y : undef\nvar %m : undef\n"
                              "(output: %y, mask: %m) = Dropout(data: %x)"));
  ASSERT_TRUE(types.ok()) << types.status();
  EXPECT_EQ((*types)["y"], "f32[4,?]");
  EXPECT_EQ((*types)["m"], "bool[4,?]");
}

TEST(ElementwiseInferTest, ConstantsHaveTheirValuesType) {
  EXPECT_EQ(*InferY("var %y : undef\n"
                    "(output: %y) = Constant() {value = dense<f32[2,2]>[1.0, 2.0, 3.0, 4.0]}"),
            "f32[2,2]");
  EXPECT_EQ(*InferY("var %y : undef\n(output: %y) = Constant() {value_ints = [1, 2, 3]}"),
            "i64[3]");
  EXPECT_EQ(*InferY("var %y : undef\n(output: %y) = Constant() {value_float = 1.0}"), "f32[]");
}

}  // namespace
}  // namespace fleet
