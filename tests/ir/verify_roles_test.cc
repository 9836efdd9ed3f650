// The verifier's role checks (ir/verify_roles.cc): a training program may not hold an op
// without a role; (parameter, gradient) pairs and training facts name declared vars.
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "ir/text_format.h"
#include "ir/verify.h"

namespace fleet {
namespace {

using ::testing::HasSubstr;

// A small training program with the training facts `facts`; `extra_op` is appended to block 0.
std::string Training(const std::string& extra_op, const std::string& facts = "loss=%loss") {
  return "fleet.program v2 opset=17 training={" + facts + "}" + R"(
block 0 {
  var %x : f32[4] feed
  var %w : f32[4] persistable parameter trainable
  var %y : f32[4]
  var %loss : f32[] fetch
  var %"w@GRAD" : f32[4]
  (C: %y) = Mul(A: %x, B: %w) role=forward
  (reduced: %loss) = ReduceSum(data: %y) {keepdims = 0} role=forward|loss
  (C: %"w@GRAD") = Mul(A: %x, B: %x) role=backward vars=[(%w, %"w@GRAD")]
)" + extra_op +
         "}\n";
}

absl::Status VerifyText(const std::string& text) {
  absl::StatusOr<Program> p = ParseProgramText(text, "p.txt");
  if (!p.ok()) return p.status();
  return Verify(*p);
}

TEST(VerifyRoles, TrainingProgramWithRolesIsValid) {
  EXPECT_TRUE(VerifyText(Training("")).ok()) << VerifyText(Training(""));
}

TEST(VerifyRoles, OpWithoutARoleInATrainingProgramIsNamed) {
  absl::Status s = VerifyText(Training("  (Y: %y) = Relu(X: %x) name=\"late\"\n"));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(),
              HasSubstr("p.txt:11:3: op 'late' (Relu): has no role in a training program"));
}

TEST(VerifyRoles, OpWithoutARoleInASubBlockIsNamed) {
  std::string text =
      Training("") + "block 1 parent 0 {\n  (Y: %y) = Relu(X: %x) name=\"inner\"\n}\n";
  absl::Status s = VerifyText(text);
  EXPECT_THAT(s.message(), HasSubstr("op 'inner' (Relu): has no role in a training program"));
}

// Must not fire: a model (no training facts) whose ops have no role, and a program that only
// ran the optimizer (no loss: autodiff did not mark its forward part).
TEST(VerifyRoles, ModelsNeedNoRoles) {
  EXPECT_TRUE(VerifyText(R"(fleet.program v2 opset=17
block 0 {
  var %x : f32[4] feed
  var %y : f32[4] fetch
  (Y: %y) = Relu(X: %x)
}
)")
                  .ok());
  EXPECT_TRUE(VerifyText(R"(fleet.program v2 opset=17 training={learning_rate=%lr}
block 0 {
  var %x : f32[4] feed
  var %lr : f32[1] persistable
  var %y : f32[4] fetch
  (Y: %y) = Relu(X: %x)
}
)")
                  .ok());
}

TEST(VerifyRoles, PairNamingAnUndeclaredVarIsNamed) {
  absl::Status s = VerifyText(
      Training("  (Y: %y) = Relu(X: %x) name=\"upd\" role=optimize vars=[(%w, %ghost)]\n"));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("op 'upd' (Relu): (parameter, gradient) pair ('w', 'ghost') "
                                     "names 'ghost', which is not declared"));
}

TEST(VerifyRoles, PairInASubBlockSeesItsParentsVars) {
  std::string text = Training("") +
                     "block 1 parent 0 {\n  (Y: %y) = Relu(X: %x) role=optimize "
                     "vars=[(%w, %\"w@GRAD\")]\n}\n";
  EXPECT_TRUE(VerifyText(text).ok()) << VerifyText(text);
}

TEST(VerifyRoles, TrainingFactNamingAnUndeclaredVarIsNamed) {
  absl::Status s = VerifyText(Training("", "loss=%loss, step=%nowhere"));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(),
              HasSubstr("p.txt: training fact step names 'nowhere', which is not declared in "
                        "block 0"));
}

}  // namespace
}  // namespace fleet
