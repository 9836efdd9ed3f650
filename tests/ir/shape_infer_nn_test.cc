// Shape inference of the matrix products and layers (ir/shape_infer_matrix.cc,
// ir/shape_infer_nn.cc): numpy matmul with 1-D operands and batch broadcasting, Gemm's
// transposes and C, Conv and pool output sizes (pads, strides, dilations, auto_pad, ceil_mode,
// groups), the normalizations, Softmax and the classification losses, with their errors.
// Expected sizes are the closed forms floor((in + pads - ((k - 1) * d + 1)) / s) + 1 and
// ceil(in / s) for SAME padding.
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/ir/shape_test_util.h"

namespace fleet {
namespace {

using ::testing::HasSubstr;
using testing_util::InferLastOp;
using testing_util::InferY;
using testing_util::MakeProgram;

absl::StatusOr<std::string> MatMul(const std::string& a, const std::string& b) {
  return InferY("var %a : " + a + "\nvar %b : " + b +
                "\nvar %y : undef\n(Y: %y) = MatMul(A: %a, B: %b) name=\"fc2\"");
}

TEST(MatrixInferTest, MatMulFollowsNumpy) {
  EXPECT_EQ(*MatMul("f32[4,8]", "f32[8,10]"), "f32[4,10]");
  EXPECT_EQ(*MatMul("f32[2,1,3,4]", "f32[5,4,6]"), "f32[2,5,3,6]");  // batch (2,1) x (5,)
  EXPECT_EQ(*MatMul("f32[8]", "f32[8,10]"), "f32[10]");              // [K] as [1,K], dropped
  EXPECT_EQ(*MatMul("f32[4,8]", "f32[8]"), "f32[4]");                // [K] as [K,1], dropped
  EXPECT_EQ(*MatMul("f32[8]", "f32[8]"), "f32[]");
  EXPECT_EQ(*MatMul("f32[?,3,4]", "f32[4,5]"), "f32[?,3,5]");
  EXPECT_EQ(*MatMul("f32[?,?]", "f32[?,5]"), "f32[?,5]");
  EXPECT_EQ(*MatMul("f32", "f32[4,5]"), "f32[...]");
}

TEST(MatrixInferTest, MatMulRejectsInnerDimsThatDiffer) {
  absl::StatusOr<std::string> r = MatMul("f32[4,8]", "f32[9,10]");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(),
              HasSubstr("prog.txt:6:1: op 'fc2' (MatMul): inputs 'A' f32[4,8] and 'B' f32[9,10] "
                        "cannot be multiplied: inner dims 8 vs 9"));
  EXPECT_THAT(MatMul("f32[2,4,8]", "f32[3,8,2]").status().message(),
              HasSubstr("do not broadcast: 2 vs 3"));
  EXPECT_THAT(MatMul("f32[]", "f32[3]").status().message(), HasSubstr("input 'A' is a scalar"));
}

absl::StatusOr<std::string> Gemm(const std::string& a, const std::string& b, const std::string& c,
                                 const std::string& attrs) {
  return InferY("var %a : " + a + "\nvar %b : " + b + "\nvar %c : " + c +
                "\nvar %y : undef\n(Y: %y) = Gemm(A: %a, B: %b, C: %c) " + attrs);
}

TEST(MatrixInferTest, GemmTransposesAndBroadcastsC) {
  EXPECT_EQ(*Gemm("f32[?,4]", "f32[4,10]", "f32[10]", ""), "f32[?,10]");
  EXPECT_EQ(*Gemm("f32[8,4]", "f32[10,8]", "f32[1,10]", "{transA = 1, transB = 1}"), "f32[4,10]");
  // C [3,1] fixes the unknown M: broadcasting to [M,N] needs M = 3.
  EXPECT_EQ(*Gemm("f32[?,4]", "f32[4,10]", "f32[3,1]", ""), "f32[3,10]");
  EXPECT_THAT(Gemm("f32[4,8]", "f32[10,8]", "f32[10]", "").status().message(),
              HasSubstr("cannot be multiplied: inner dims 8 vs 10"));
  EXPECT_THAT(Gemm("f32[4,8]", "f32[8,10]", "f32[3,10]", "").status().message(),
              HasSubstr("input 'C' [3,10] does not broadcast to the product's shape [4,10]"));
  EXPECT_THAT(Gemm("f32[2,4,8]", "f32[8,10]", "f32[10]", "").status().message(),
              HasSubstr("input 'A' [2,4,8] has rank 3; Gemm needs rank 2"));
}

absl::StatusOr<std::string> Conv(const std::string& x, const std::string& w,
                                 const std::string& attrs) {
  return InferY("var %x : " + x + "\nvar %w : " + w +
                "\nvar %y : undef\n(Y: %y) = Conv(X: %x, W: %w) " + attrs);
}

TEST(NnInferTest, ConvOutputSizes) {
  // floor((32 + 2 - 3) / 2) + 1 = 16
  EXPECT_EQ(*Conv("f32[1,3,32,32]", "f32[16,3,3,3]", "{pads = [1, 1, 1, 1], strides = [2, 2]}"),
            "f32[1,16,16,16]");
  // dilation 2: window 5; floor((32 + 2 - 5) / 1) + 1 = 30
  EXPECT_EQ(*Conv("f32[?,3,32,32]", "f32[16,3,3,3]", "{dilations = [2, 2], pads = [1, 1, 1, 1]}"),
            "f32[?,16,30,30]");
  // SAME: ceil(in / stride); VALID: floor((in - 3) / 2) + 1
  EXPECT_EQ(
      *Conv("f32[1,3,33,32]", "f32[8,3,3,3]", "{auto_pad = \"SAME_UPPER\", strides = [2, 2]}"),
      "f32[1,8,17,16]");
  EXPECT_EQ(
      *Conv("f32[1,3,33,32]", "f32[8,3,3,3]", "{auto_pad = \"SAME_LOWER\", strides = [2, 2]}"),
      "f32[1,8,17,16]");
  EXPECT_EQ(*Conv("f32[1,3,32,32]", "f32[8,3,3,3]", "{auto_pad = \"VALID\", strides = [2, 2]}"),
            "f32[1,8,15,15]");
  // Asymmetric pads, 1-D and 3-D convolutions, groups.
  EXPECT_EQ(*Conv("f32[2,3,10]", "f32[4,3,3]", "{pads = [0, 2]}"), "f32[2,4,10]");
  EXPECT_EQ(*Conv("f32[1,2,5,6,7]", "f32[4,2,1,2,3]", ""), "f32[1,4,5,5,5]");
  EXPECT_EQ(*Conv("f32[1,4,8,8]", "f32[6,2,3,3]", "{group = 2}"), "f32[1,6,6,6]");
  // An unknown spatial dim stays unknown; the others are still computed.
  EXPECT_EQ(*Conv("f32[1,3,?,32]", "f32[8,3,3,3]", ""), "f32[1,8,?,30]");
}

TEST(NnInferTest, ConvErrors) {
  EXPECT_THAT(Conv("f32[1,3,8,8]", "f32[6,2,3,3]", "").status().message(),
              HasSubstr("input 'X' [1,3,8,8] has 3 channels; 'W' [6,2,3,3] with group 1 "
                        "expects 2"));
  EXPECT_THAT(Conv("f32[1,3,8,8]", "f32[6,3,3]", "").status().message(),
              HasSubstr("input 'W' [6,3,3] has rank 3; expected 4"));
  EXPECT_THAT(Conv("f32[1,3,2,2]", "f32[6,3,3,3]", "").status().message(),
              HasSubstr("padded to 2 is smaller than the window 3"));
  EXPECT_THAT(Conv("f32[1,3,8,8]", "f32[6,3,3,3]", "{strides = [1, 1, 1]}").status().message(),
              HasSubstr("attribute 'strides' has 3 values; expected 2"));
}

TEST(NnInferTest, PoolOutputSizes) {
  const std::string x = "var %x : f32[1,1,5,5]\nvar %y : undef\nvar %i : undef\n";
  // floor((5 - 2) / 2) + 1 = 2; with ceil_mode ceil(3 / 2) + 1 = 3
  auto floor_mode = InferLastOp(MakeProgram(
      x + "(Y: %y, Indices: %i) = MaxPool(X: %x) {kernel_shape = [2, 2], strides = [2, 2]}"));
  ASSERT_TRUE(floor_mode.ok()) << floor_mode.status();
  EXPECT_EQ((*floor_mode)["y"], "f32[1,1,2,2]");
  EXPECT_EQ((*floor_mode)["i"], "i64[1,1,2,2]");
  EXPECT_EQ(*InferY(x + "(Y: %y) = MaxPool(X: %x) {ceil_mode = 1, kernel_shape = [2, 2], "
                        "strides = [2, 2]}"),
            "f32[1,1,3,3]");
  // Where ONNX's inference (ceil((6 + 2 - 3) / 4) + 1 = 3) and the runtimes (2: the last window
  // would start in the end padding) disagree, the size is unknown.
  EXPECT_EQ(*InferY("var %x : f32[1,1,6]\nvar %y : undef\n(Y: %y) = MaxPool(X: %x) "
                    "{ceil_mode = 1, kernel_shape = [3], pads = [0, 2], strides = [4]}"),
            "f32[1,1,?]");
  EXPECT_EQ(
      *InferY(x + "(Y: %y) = AveragePool(X: %x) {kernel_shape = [3, 3], pads = [1, 1, 1, 1]}"),
      "f32[1,1,5,5]");
  EXPECT_EQ(*InferY("var %x : f32[?,64,7,9]\nvar %y : undef\n(Y: %y) = GlobalAveragePool(X: %x)"),
            "f32[?,64,1,1]");
  EXPECT_THAT(InferY(x + "(Y: %y) = MaxPool(X: %x) {kernel_shape = [2]}").status().message(),
              HasSubstr("attribute 'kernel_shape' must have 2 values"));
}

TEST(NnInferTest, BatchNormChecksItsPerChannelInputs) {
  const std::string vars =
      "var %x : f32[?,3,8,8]\nvar %s : f32[3]\nvar %b : f32[3]\nvar %m : f32[3]\nvar %v : f32[3]\n"
      "var %bad : f32[4]\nvar %y : undef\n";
  EXPECT_EQ(*InferY(vars + "(Y: %y) = BatchNormalization(X: %x, scale: %s, B: %b, "
                           "input_mean: %m, input_var: %v)"),
            "f32[?,3,8,8]");
  absl::StatusOr<std::string> bad =
      InferY(vars +
             "(Y: %y) = BatchNormalization(X: %x, scale: %s, B: %bad, input_mean: %m, "
             "input_var: %v)");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("input 'B' [4] must be [3] for input 'X'"));
}

TEST(NnInferTest, LayerNormStatisticsKeepTheLeadingDims) {
  auto types = InferLastOp(MakeProgram(
      "var %x : f32[2,5,8]\nvar %s : f32[8]\nvar %y : undef\nvar %m : undef\nvar %r : undef\n"
      "(Y: %y, Mean: %m, InvStdDev: %r) = LayerNormalization(X: %x, Scale: %s)"));
  ASSERT_TRUE(types.ok()) << types.status();
  EXPECT_EQ((*types)["y"], "f32[2,5,8]");
  EXPECT_EQ((*types)["m"], "f32[2,5,1]");
  EXPECT_EQ((*types)["r"], "f32[2,5,1]");
  auto axis1 = InferLastOp(
      MakeProgram("var %x : f32[2,5,8]\nvar %s : f32[5,8]\nvar %y : undef\nvar %m : undef\n"
                  "(Y: %y, Mean: %m) = LayerNormalization(X: %x, Scale: %s) {axis = 1}"));
  ASSERT_TRUE(axis1.ok()) << axis1.status();
  EXPECT_EQ((*axis1)["m"], "f32[2,1,1]");
  EXPECT_THAT(InferY("var %x : f32[2,8]\nvar %s : f32[7]\nvar %y : undef\n"
                     "(Y: %y) = LayerNormalization(X: %x, Scale: %s)")
                  .status()
                  .message(),
              HasSubstr("'X[axis:]' [8] and 'Scale' [7] do not broadcast"));
}

TEST(NnInferTest, SoftmaxChecksItsAxis) {
  EXPECT_EQ(*InferY("var %x : f32[?,10]\nvar %y : undef\n(output: %y) = Softmax(input: %x)"),
            "f32[?,10]");
  EXPECT_THAT(InferY("var %x : f32[4,10]\nvar %y : undef\n"
                     "(output: %y) = LogSoftmax(input: %x) {axis = 2}")
                  .status()
                  .message(),
              HasSubstr("axis 2 is out of range for rank 2"));
}

TEST(NnInferTest, ClassificationLossShapes) {
  const std::string vars = "var %s : f32[?,10]\nvar %l : i64[?]\nvar %y : undef\nvar %lp : undef\n";
  auto mean = InferLastOp(MakeProgram(
      vars + "(output: %y, log_prob: %lp) = SoftmaxCrossEntropyLoss(scores: %s, labels: %l)"));
  ASSERT_TRUE(mean.ok()) << mean.status();
  EXPECT_EQ((*mean)["y"], "f32[]");
  EXPECT_EQ((*mean)["lp"], "f32[?,10]");
  EXPECT_EQ(*InferY(vars + "(output: %y) = SoftmaxCrossEntropyLoss(scores: %s, labels: %l) "
                           "{reduction = \"none\"}"),
            "f32[?]");
  EXPECT_EQ(*InferY("var %s : f32[4,3,5]\nvar %l : i64[4,5]\nvar %y : undef\n"
                    "(loss: %y) = NegativeLogLikelihoodLoss(input: %s, target: %l) "
                    "{reduction = \"none\"}"),
            "f32[4,5]");
  EXPECT_THAT(InferY("var %s : f32[4,10]\nvar %l : i64[4,2]\nvar %y : undef\n"
                     "(output: %y) = SoftmaxCrossEntropyLoss(scores: %s, labels: %l)")
                  .status()
                  .message(),
              HasSubstr("input 'labels' [4,2] must be [4] for 'scores' [4,10]"));
}

}  // namespace
}  // namespace fleet
