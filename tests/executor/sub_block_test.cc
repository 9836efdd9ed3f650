// Sub-blocks run by kernels through the executor (executor/sub_block.h): what a child block sees
// of its parent (intermediates of this run, persistable vars, vars of a grandparent), what the
// parent sees afterwards (fleet.conditional_block's Out), that children are prepared once, and
// the errors for bad block references and undeclared outer writes. Expected values are closed
// forms computed here.
#include "executor/sub_block.h"

#include <memory>
#include <string>
#include <vector>

#include "executor/executor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "ir/text_format.h"
#include "ir/verify.h"
#include "kernels/cpu/register.h"

namespace fleet {
namespace {

using ::testing::HasSubstr;

Program Parse(const std::string& text) {
  auto program = ParseProgramText(text, "test.txt");
  EXPECT_TRUE(program.ok()) << program.status();
  return program.ok() ? *std::move(program) : Program();
}

Tensor F32(std::vector<float> v) {
  Tensor t(DataType::kF32, {static_cast<int64_t>(v.size())});
  std::copy(v.begin(), v.end(), t.data<float>());
  return t;
}

Tensor Bool(bool b) { return Tensor::Scalar<uint8_t>(DataType::kBool, b ? 1 : 0); }

std::vector<float> Values(const Tensor* t) {
  if (t == nullptr) return {};
  return std::vector<float>(t->data<float>(), t->data<float>() + t->numel());
}

KernelTable CpuKernels() {
  KernelTable k;
  RegisterCpuKernels(k);
  return k;
}

// acc += 2x + w when c: the block reads the parent's intermediate t = x + x (which nothing else
// reads, so only the op keeps it alive) and the persistable w, and writes the persistable acc.
constexpr char kAccumulate[] = R"(fleet.program v1 opset=17
block 0 {
  var %x : f32[2] feed
  var %c : bool[] feed
  var %w : f32[2] persistable
  var %acc : f32[2] persistable
  var %t : f32[2]
  (C: %t) = Add(A: %x, B: %x)
  (Out: %acc) = fleet.conditional_block(Cond: %c) {sub_block = ^1}
}
block 1 parent 0 {
  var %s : f32[2]
  (C: %s) = Add(A: %acc, B: %t)
  (C: %acc) = Add(A: %s, B: %w)
}
)";

TEST(SubBlockTest, ConditionalBlockReadsParentIntermediateAndPersistableVar) {
  Program p = Parse(kAccumulate);
  ASSERT_TRUE(Verify(p).ok()) << Verify(p);
  KernelTable k = CpuKernels();
  auto exec = Executor::Create(p, k);
  ASSERT_TRUE(exec.ok()) << exec.status();
  Scope scope;
  scope.Set("w", F32({10, 20}));
  scope.Set("acc", F32({1, 1}));
  scope.Set("x", F32({1, 2}));
  scope.Set("c", Bool(true));
  ASSERT_TRUE((*exec)->Run(scope).ok());
  EXPECT_EQ(Values(scope.Find("acc")), (std::vector<float>{1 + 2 + 10, 1 + 4 + 20}));
  // Intermediates of either block stay out of the scope.
  EXPECT_EQ(scope.Find("t"), nullptr);
  EXPECT_EQ(scope.Find("s"), nullptr);
  ASSERT_TRUE((*exec)->Run(scope).ok());
  EXPECT_EQ(Values(scope.Find("acc")), (std::vector<float>{13 + 2 + 10, 25 + 4 + 20}));
}

TEST(SubBlockTest, ConditionalBlockWithFalseConditionKeepsOutputs) {
  Program p = Parse(kAccumulate);
  KernelTable k = CpuKernels();
  auto exec = Executor::Create(p, k);
  ASSERT_TRUE(exec.ok()) << exec.status();
  Scope scope;
  scope.Set("w", F32({10, 20}));
  scope.Set("acc", F32({1, 1}));
  scope.Set("x", F32({1, 2}));
  for (bool c : {false, true, false}) {
    scope.Set("c", Bool(c));
    ASSERT_TRUE((*exec)->Run(scope).ok()) << c;
  }
  EXPECT_EQ(Values(scope.Find("acc")), (std::vector<float>{13, 25}));  // one update of three
}

// Block 2 (inside block 1) reads block 0's intermediate t, which block 1 never names, and
// writes acc, which both levels list in Out.
TEST(SubBlockTest, NestedBlocksReadTheGrandparentsValues) {
  Program p = Parse(R"(fleet.program v1 opset=17
block 0 {
  var %x : f32[2] feed
  var %outer : bool[] feed
  var %inner : bool[] feed
  var %acc : f32[2] persistable
  var %t : f32[2]
  (C: %t) = Add(A: %x, B: %x)
  (Out: %acc) = fleet.conditional_block(Cond: %outer) {sub_block = ^1}
}
block 1 parent 0 {
  (Out: %acc) = fleet.conditional_block(Cond: %inner) {sub_block = ^2}
}
block 2 parent 1 {
  (C: %acc) = Add(A: %acc, B: %t)
}
)");
  ASSERT_TRUE(Verify(p).ok()) << Verify(p);
  KernelTable k = CpuKernels();
  auto exec = Executor::Create(p, k);
  ASSERT_TRUE(exec.ok()) << exec.status();
  Scope scope;
  scope.Set("acc", F32({0, 0}));
  scope.Set("x", F32({1, 3}));
  float expected = 0;
  for (auto [outer, inner] : {std::pair{true, true}, std::pair{true, false}, std::pair{false, true},
                              std::pair{true, true}}) {
    scope.Set("outer", Bool(outer));
    scope.Set("inner", Bool(inner));
    ASSERT_TRUE((*exec)->Run(scope).ok());
    if (outer && inner) expected += 1;  // acc grows by t = 2x
    EXPECT_EQ(Values(scope.Find("acc")), (std::vector<float>{2 * expected, 6 * expected}))
        << outer << inner;
  }
}

// sum = zero + M * 2x, each[i] = (i + 1) * 2x: the body reads the parent's intermediate t
// through the loop and its own feeds (the loop-carried value).
TEST(SubBlockTest, LoopBodyReadsParentIntermediate) {
  Program p = Parse(R"(fleet.program v1 opset=17
block 0 {
  var %x : f32[2] feed
  var %m : i64[] feed
  var %zero : f32[2] persistable
  var %t : f32[2]
  var %sum : f32[2] fetch
  var %each : f32[?,2] fetch
  (C: %t) = Add(A: %x, B: %x)
  (v_final_and_scan_outputs: [%sum, %each]) = Loop(M: %m, cond: none, v_initial: %zero) {body = ^1}
}
block 1 parent 0 {
  var %i : i64[] feed
  var %cin : bool[] feed
  var %carried : f32[2] feed
  var %cout : bool[] fetch
  var %next : f32[2] fetch
  var %copy : f32[2] fetch
  (output: %cout) = Identity(input: %cin)
  (C: %next) = Add(A: %carried, B: %t)
  (output: %copy) = Identity(input: %next)
}
)");
  ASSERT_TRUE(Verify(p).ok()) << Verify(p);
  KernelTable k = CpuKernels();
  auto exec = Executor::Create(p, k);
  ASSERT_TRUE(exec.ok()) << exec.status();
  Scope scope;
  scope.Set("zero", F32({0, 0}));
  scope.Set("x", F32({1, 3}));
  scope.Set("m", Tensor::Scalar<int64_t>(DataType::kI64, 3));
  ASSERT_TRUE((*exec)->Run(scope).ok());
  EXPECT_EQ(Values(scope.Find("sum")), (std::vector<float>{6, 18}));
  const Tensor* each = scope.Find("each");
  ASSERT_NE(each, nullptr);
  EXPECT_EQ(each->shape(), (std::vector<int64_t>{3, 2}));
  EXPECT_EQ(Values(each), (std::vector<float>{2, 6, 4, 12, 6, 18}));
}

// Counts its own runs in its kernel state, which lives as long as the prepared op.
struct RunCounter : KernelState {
  float runs = 0;
};
absl::Status CountRuns(KernelContext& ctx) {
  if (*ctx.state() == nullptr) *ctx.state() = std::make_unique<RunCounter>();
  auto* counter = static_cast<RunCounter*>(ctx.state()->get());
  counter->runs += 1;
  *ctx.Output(0, DataType::kF32, {})->data<float>() = counter->runs;
  return absl::OkStatus();
}

TEST(SubBlockTest, ChildExecutorIsPreparedOnceNotPerRun) {
  Program p = Parse(R"(fleet.program v1 opset=17
block 0 {
  var %c : bool[] feed
  var %n : f32[] persistable
  (Out: %n) = fleet.conditional_block(Cond: %c) {sub_block = ^1}
}
block 1 parent 0 {
  (Out: %n) = test.count_runs()
}
)");
  KernelTable k = CpuKernels();
  k.AddAnyType("test.count_runs", Device::kCpu, CountRuns);
  auto exec = Executor::Create(p, k);
  ASSERT_TRUE(exec.ok()) << exec.status();
  Scope scope;
  scope.Set("n", Tensor::Scalar<float>(DataType::kF32, 0));
  scope.Set("c", Bool(true));
  for (int run = 1; run <= 3; ++run) {
    ASSERT_TRUE((*exec)->Run(scope).ok());
    // A child prepared per run would start a fresh state each time and count 1.
    EXPECT_EQ(*scope.Find("n")->data<float>(), run);
  }
}

TEST(SubBlockTest, BadBlockReferencesAreErrorsAtPrepare) {
  KernelTable k = CpuKernels();
  Program missing = Parse(kAccumulate);
  missing.main().ops[1].attrs["sub_block"] = BlockRef{7};
  auto exec = Executor::Create(missing, k);
  EXPECT_EQ(exec.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(exec.status().message()),
              HasSubstr("(fleet.conditional_block): attribute 'sub_block' refers to block 7, "
                        "which does not exist"));

  Program not_a_child = Parse(R"(fleet.program v1 opset=17
block 0 {
  var %c : bool[] feed
  var %acc : f32[2] persistable
  (Out: %acc) = fleet.conditional_block(Cond: %c) {sub_block = ^2}
}
block 1 parent 0 {
}
block 2 parent 1 {
  (C: %acc) = Add(A: %acc, B: %acc)
}
)");
  exec = Executor::Create(not_a_child, k);
  EXPECT_EQ(exec.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(exec.status().message()),
              HasSubstr("refers to block 2, whose parent is block 1; a sub-block must be a child "
                        "of the op's block 0"));
}

TEST(SubBlockTest, WritingAnOuterVarNotListedAsOutputIsAnError) {
  Program p = Parse(R"(fleet.program v1 opset=17
block 0 {
  var %c : bool[] feed
  var %acc : f32[2] persistable
  fleet.conditional_block(Cond: %c) {sub_block = ^1}
}
block 1 parent 0 {
  (C: %acc) = Add(A: %acc, B: %acc)
}
)");
  KernelTable k = CpuKernels();
  auto exec = Executor::Create(p, k);
  EXPECT_EQ(exec.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(exec.status().message()),
              HasSubstr("block 1 writes 'acc', which is declared in an enclosing block; list it "
                        "among the op's outputs"));
}

TEST(SubBlockTest, OutputWithoutPriorValueIsAnErrorWhenTheBlockDoesNotRun) {
  Program p = Parse(R"(fleet.program v1 opset=17
block 0 {
  var %c : bool[] feed
  var %x : f32[2] feed
  var %y : f32[2] fetch
  (Out: %y) = fleet.conditional_block(Cond: %c) {sub_block = ^1}
}
block 1 parent 0 {
  (Y: %y) = Relu(X: %x)
}
)");
  KernelTable k = CpuKernels();
  auto exec = Executor::Create(p, k);
  ASSERT_TRUE(exec.ok()) << exec.status();
  Scope scope;
  scope.Set("x", F32({-1, 2}));
  scope.Set("c", Bool(true));
  ASSERT_TRUE((*exec)->Run(scope).ok());
  EXPECT_EQ(Values(scope.Find("y")), (std::vector<float>{0, 2}));
  Scope fresh;
  fresh.Set("x", F32({-1, 2}));
  fresh.Set("c", Bool(false));
  absl::Status status = (*exec)->Run(fresh);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()),
              HasSubstr("output 'y' has no value from before the op to keep"));
}

TEST(SubBlockTest, LoopWithoutTripCountOrConditionIsRefused) {
  Program p = Parse(R"(fleet.program v1 opset=17
block 0 {
  var %x : f32[2] feed
  var %y : f32[2] fetch
  (v_final_and_scan_outputs: %y) = Loop(M: none, cond: none, v_initial: %x) {body = ^1}
}
block 1 parent 0 {
  var %i : i64[] feed
  var %cin : bool[] feed
  var %v : f32[2] feed
  var %cout : bool[] fetch
  var %vout : f32[2] fetch
  (output: %cout) = Identity(input: %cin)
  (output: %vout) = Identity(input: %v)
}
)");
  KernelTable k = CpuKernels();
  auto exec = Executor::Create(p, k);
  ASSERT_TRUE(exec.ok()) << exec.status();
  Scope scope;
  scope.Set("x", F32({1, 2}));
  absl::Status status = (*exec)->Run(scope);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), HasSubstr("(Loop): has neither a trip count M nor a "
                                                       "condition, so it would never end"));
}

}  // namespace
}  // namespace fleet
