// Shape inference of Fleet's own ops (ir/shape_infer_fleet.cc, ir/shape_infer_grad.cc): the
// autodiff helpers, the optimizer updates and their checks (Grad shaped like Param, a
// one-element LearningRate), the bookkeeping ops, and the gradient ops, whose outputs take the
// type of the forward var they belong to.
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/ir/shape_test_util.h"

namespace fleet {
namespace {

using ::testing::HasSubstr;
using testing_util::InferLastOp;
using testing_util::InferY;
using testing_util::MakeProgram;

TEST(FleetOpInferTest, AutodiffHelpers) {
  EXPECT_EQ(*InferY("var %x : f32[?,4]\nvar %y : undef\n(Out: %y) = fleet.fill_like(X: %x)"),
            "f32[?,4]");
  // grad_sum merges what its inputs know.
  EXPECT_EQ(*InferY("var %a : f32[?,4]\nvar %b : f32[3,?]\nvar %y : undef\n"
                    "(Out: %y) = fleet.grad_sum(X: [%a, %b])"),
            "f32[3,4]");
  EXPECT_THAT(InferY("var %a : f32[3,4]\nvar %b : f32[4,3]\nvar %y : undef\n"
                     "(Out: %y) = fleet.grad_sum(X: [%a, %b])")
                  .status()
                  .message(),
              HasSubstr("inputs 'X[0]' [3,4] and 'X[1]' [4,3] must have the same shape"));
  EXPECT_EQ(*InferY("var %x : f32[?,3]\nvar %l : f32[3]\nvar %y : undef\n"
                    "(Out: %y) = fleet.reduce_to_like(X: %x, Like: %l)"),
            "f32[3]");
  EXPECT_EQ(*InferY("var %x : f32[?]\nvar %l : f32[?,8]\nvar %y : undef\n"
                    "(Out: %y) = fleet.expand_like(X: %x, Like: %l) {axes = [1], keepdims = 0}"),
            "f32[?,8]");
}

constexpr char kSgdVars[] =
    "var %p : f32[3,2]\nvar %g : f32[3,2]\nvar %gt : f32[2,3]\nvar %lr : f32[1]\n"
    "var %lr2 : f32[2]\nvar %y : undef\n";

TEST(FleetOpInferTest, UpdatesKeepTheStatesType) {
  EXPECT_EQ(*InferY(std::string(kSgdVars) +
                    "(ParamOut: %y) = fleet.sgd(Param: %p, Grad: %g, LearningRate: %lr)"),
            "f32[3,2]");
  auto adam = InferLastOp(MakeProgram(
      "var %p : f32[3,2]\nvar %g : f32[3,2]\nvar %lr : f32[1]\nvar %m1 : f32[3,2]\n"
      "var %m2 : f32[3,2]\nvar %b1 : f32[1]\nvar %b2 : f32[1]\nvar %o : undef\nvar %o1 : undef\n"
      "var %o2 : undef\nvar %ob1 : undef\nvar %ob2 : undef\n"
      "(ParamOut: %o, Moment1Out: %o1, Moment2Out: %o2, Beta1PowOut: %ob1, Beta2PowOut: %ob2) = "
      "fleet.adam(Param: %p, Grad: %g, LearningRate: %lr, Moment1: %m1, Moment2: %m2, "
      "Beta1Pow: %b1, Beta2Pow: %b2)"));
  ASSERT_TRUE(adam.ok()) << adam.status();
  EXPECT_EQ((*adam)["o"], "f32[3,2]");
  EXPECT_EQ((*adam)["o2"], "f32[3,2]");
  EXPECT_EQ((*adam)["ob1"], "f32[1]");
}

TEST(FleetOpInferTest, UpdatesRejectAGradOfAnotherShapeAndAWideLearningRate) {
  absl::StatusOr<std::string> grad =
      InferY(std::string(kSgdVars) +
             "(ParamOut: %y) = fleet.sgd(Param: %p, Grad: %gt, LearningRate: %lr)");
  ASSERT_FALSE(grad.ok());
  EXPECT_EQ(grad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(grad.status().message(),
              HasSubstr("op (fleet.sgd): inputs 'Param' [3,2] and 'Grad' [2,3] must have the "
                        "same shape"));
  EXPECT_THAT(InferY(std::string(kSgdVars) +
                     "(ParamOut: %y) = fleet.sgd(Param: %p, Grad: %g, LearningRate: %lr2)")
                  .status()
                  .message(),
              HasSubstr("input 'LearningRate' [2] holds 2 elements; expected one"));
}

TEST(FleetOpInferTest, Bookkeeping) {
  EXPECT_EQ(*InferY("var %y : undef\n(Out: %y) = fleet.fill_constant() "
                    "{dtype = \"i64\", shape = [1], value = 0.0}"),
            "i64[1]");
  EXPECT_EQ(*InferY("var %s : i64[1]\nvar %y : undef\n(LearningRate: %y) = "
                    "fleet.lr_schedule(Step: %s) {base_lr = 0.1}"),
            "f32[1]");
  EXPECT_EQ(*InferY("var %s : i64[1]\nvar %y : undef\n(Out: %y) = fleet.increment(X: %s)"),
            "i64[1]");
  auto clip = InferLastOp(
      MakeProgram("var %a : f32[3,2]\nvar %b : f32[2]\nvar %ca : undef\nvar %cb : undef\n"
                  "(Out: [%ca, %cb]) = fleet.clip_by_global_norm(X: [%a, %b]) {max_norm = 1.0}"));
  ASSERT_TRUE(clip.ok()) << clip.status();
  EXPECT_EQ((*clip)["ca"], "f32[3,2]");
  EXPECT_EQ((*clip)["cb"], "f32[2]");
}

TEST(GradOpInferTest, ElementwiseGradientsAreShapedLikeTheirForwardVar) {
  EXPECT_EQ(*InferY("var %o : f32[?,4]\nvar %d : f32[8,?]\nvar %y : undef\n"
                    "(XGrad: %y) = fleet.relu_grad(Out: %o, OutGrad: %d)"),
            "f32[8,4]");
  EXPECT_THAT(InferY("var %o : f32[2,4]\nvar %d : f32[4,2]\nvar %y : undef\n"
                     "(XGrad: %y) = fleet.tanh_grad(Out: %o, OutGrad: %d)")
                  .status()
                  .message(),
              HasSubstr("inputs 'Out' [2,4] and 'OutGrad' [4,2] must have the same shape"));
  EXPECT_EQ(*InferY("var %o : f32[2,5]\nvar %d : f32[2,5]\nvar %y : undef\n"
                    "(XGrad: %y) = fleet.softmax_grad(Out: %o, OutGrad: %d)"),
            "f32[2,5]");
  EXPECT_EQ(*InferY("var %d : f32[2,5]\nvar %m : bool[2,5]\nvar %y : undef\n"
                    "(XGrad: %y) = fleet.dropout_grad(OutGrad: %d, Mask: %m)"),
            "f32[2,5]");
}

TEST(GradOpInferTest, LayerGradientsAreShapedLikeTheirInputs) {
  const std::string conv =
      "var %x : f32[?,3,8,8]\nvar %w : f32[16,3,3,3]\nvar %dy : f32[?,16,6,6]\n"
      "var %dx : undef\nvar %dw : undef\nvar %db : undef\n";
  auto filter = InferLastOp(MakeProgram(
      conv + "(WGrad: %dw, BGrad: %db) = fleet.conv_grad_filter(X: %x, W: %w, YGrad: %dy)"));
  ASSERT_TRUE(filter.ok()) << filter.status();
  EXPECT_EQ((*filter)["dw"], "f32[16,3,3,3]");
  EXPECT_EQ((*filter)["db"], "f32[16]");
  EXPECT_EQ(*InferY("var %a : f32[?,8]\nvar %b : f32[8,10]\nvar %d : f32[?,10]\nvar %y : undef\n"
                    "(BGrad: %y) = fleet.matmul_grad_b(A: %a, B: %b, YGrad: %d)"),
            "f32[8,10]");
  auto bn = InferLastOp(MakeProgram(
      "var %x : f32[?,3,4,4]\nvar %s : f32[3]\nvar %b : f32[3]\nvar %m : f32[3]\nvar %v : f32[3]\n"
      "var %y : undef\nvar %mo : undef\nvar %vo : undef\nvar %sm : undef\nvar %si : undef\n"
      "(Y: %y, RunningMeanOut: %mo, RunningVarOut: %vo, SavedMean: %sm, SavedInvStd: %si) = "
      "fleet.batch_norm_train(X: %x, Scale: %s, B: %b, RunningMean: %m, RunningVar: %v)"));
  ASSERT_TRUE(bn.ok()) << bn.status();
  EXPECT_EQ((*bn)["y"], "f32[?,3,4,4]");
  EXPECT_EQ((*bn)["sm"], "f32[3]");
  EXPECT_EQ((*bn)["vo"], "f32[3]");
}

TEST(GradOpInferTest, ShapeAndIndexGradientsTakeLikesShape) {
  EXPECT_EQ(*InferY("var %d : f32[?,64]\nvar %l : f32[?,4,16]\nvar %y : undef\n"
                    "(Out: %y) = fleet.reshape_like(X: %d, Like: %l)"),
            "f32[?,4,16]");
  EXPECT_THAT(InferY("var %d : f32[2,64]\nvar %l : f32[2,4,15]\nvar %y : undef\n"
                     "(Out: %y) = fleet.reshape_like(X: %d, Like: %l)")
                  .status()
                  .message(),
              HasSubstr("input 'X' [2,64] (128 elements) cannot be viewed as 'Like' [2,4,15]"));
  EXPECT_EQ(*InferY("var %d : f32[?,5,16]\nvar %i : i64[?,5]\nvar %t : f32[100,16]\n"
                    "var %y : undef\n"
                    "(XGrad: %y) = fleet.gather_grad_sparse(OutGrad: %d, Indices: %i, Like: %t)"),
            "f32[100,16]");
  auto concat = InferLastOp(MakeProgram(
      "var %d : f32[2,8]\nvar %a : f32[2,3]\nvar %b : f32[2,5]\nvar %db : undef\n"
      "(Out: %db) = fleet.concat_grad(X: %d, Inputs: [%a, %b]) {axis = 1, select = [1]}"));
  ASSERT_TRUE(concat.ok()) << concat.status();
  EXPECT_EQ((*concat)["db"], "f32[2,5]");
}

}  // namespace
}  // namespace fleet
