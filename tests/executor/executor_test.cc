// The executor on a small program with kernels defined here: feeds, fetches, value lifetimes,
// persistable values, and the errors for missing kernels and bad feeds.
#include "executor/executor.h"

#include <cmath>
#include <memory>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fleet {
namespace {

using ::testing::HasSubstr;

// Element-wise add of two same-shape f32 tensors.
absl::Status AddF32(KernelContext& ctx) {
  const Tensor& a = ctx.input(0);
  const Tensor& b = ctx.input(1);
  if (a.shape() != b.shape()) return ctx.InvalidArgument("shapes differ");
  Tensor* y = ctx.Output(0, DataType::kF32, a.shape());
  for (int64_t i = 0; i < a.numel(); ++i) y->data<float>()[i] = a.data<float>()[i] + b.data<float>()[i];
  return absl::OkStatus();
}

// Counts how many buffers are alive when it runs: checks that dead intermediates were freed.
int g_live_at_probe = 0;
absl::Status Relu(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  g_live_at_probe = static_cast<int>(x.buffer().use_count());
  Tensor* y = ctx.Output(0, DataType::kF32, x.shape());
  for (int64_t i = 0; i < x.numel(); ++i) y->data<float>()[i] = std::max(0.f, x.data<float>()[i]);
  return absl::OkStatus();
}

Var MakeVar(const std::string& name, uint32_t flags, std::vector<int64_t> shape = {-1, 2}) {
  Var v;
  v.name = name;
  v.dtype = DataType::kF32;
  v.shape = std::move(shape);
  v.flags = flags;
  return v;
}

Op MakeOp(const std::string& type, std::vector<Slot> in, std::vector<Slot> out) {
  Op op;
  op.type = type;
  op.name = type + "_op";
  op.inputs = std::move(in);
  op.outputs = std::move(out);
  return op;
}

// y = Relu(Add(Add(x, bias), x)), bias a persistable value [1, -5].
Program TestProgram() {
  Program p;
  Block& b = p.main();
  b.AddVar(MakeVar("x", kVarFeed));
  b.AddVar(MakeVar("bias", kVarPersistable, {1, 2}));
  b.AddVar(MakeVar("t", 0));
  b.AddVar(MakeVar("u", 0));
  b.AddVar(MakeVar("y", kVarFetch));
  b.ops.push_back(MakeOp("Add", {{"A", {"x"}}, {"B", {"bias"}}}, {{"C", {"t"}}}));
  b.ops.push_back(MakeOp("Add", {{"A", {"t"}}, {"B", {"x"}}}, {{"C", {"u"}}}));
  b.ops.push_back(MakeOp("Relu", {{"X", {"u"}}}, {{"Y", {"y"}}}));
  float bias[2] = {1.f, -5.f};
  p.values["bias"] = TensorValue{DataType::kF32, {1, 2},
                                 std::string(reinterpret_cast<char*>(bias), sizeof(bias))};
  return p;
}

KernelTable TestKernels() {
  KernelTable k;
  k.Add("Add", Device::kCpu, {DataType::kF32}, AddF32);
  k.Add("Relu", Device::kCpu, {DataType::kF32}, Relu);
  return k;
}

Tensor Feed(std::vector<float> v) {
  Tensor t(DataType::kF32, {1, 2});
  std::copy(v.begin(), v.end(), t.data<float>());
  return t;
}

TEST(ExecutorTest, RunsAndFetchesAndKeepsOnlyWhatOutlivesTheRun) {
  Program p = TestProgram();
  KernelTable k = TestKernels();
  auto exec = Executor::Create(p, k);
  ASSERT_TRUE(exec.ok()) << exec.status();
  EXPECT_EQ((*exec)->feed_names(), std::vector<std::string>{"x"});
  EXPECT_EQ((*exec)->fetch_names(), std::vector<std::string>{"y"});
  Scope scope;
  scope.Set("x", Feed({2.f, 1.f}));
  ASSERT_TRUE((*exec)->Run(scope).ok());
  const Tensor* y = scope.Find("y");
  ASSERT_NE(y, nullptr);
  // (2 + 1) + 2 = 5; (1 - 5) + 1 = -3 -> relu 0.
  EXPECT_EQ(y->data<float>()[0], 5.f);
  EXPECT_EQ(y->data<float>()[1], 0.f);
  // Intermediates are not written back; the persistable value was materialised once.
  EXPECT_EQ(scope.Find("t"), nullptr);
  EXPECT_EQ(scope.Find("u"), nullptr);
  ASSERT_NE(scope.Find("bias"), nullptr);
  // When Relu ran, 'u' was referenced only by the executor's own slot (t already released).
  EXPECT_EQ(g_live_at_probe, 1);
}

TEST(ExecutorTest, FeedErrorsNameTheInput) {
  Program p = TestProgram();
  KernelTable k = TestKernels();
  auto exec = Executor::Create(p, k);
  ASSERT_TRUE(exec.ok());
  Scope empty;
  absl::Status missing = (*exec)->Run(empty);
  EXPECT_EQ(missing.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(missing.message()), HasSubstr("input 'x' was not fed"));

  Scope wrong;
  wrong.Set("x", Tensor(DataType::kF64, {1, 2}));
  absl::Status dtype = (*exec)->Run(wrong);
  EXPECT_THAT(std::string(dtype.message()), HasSubstr("input 'x' is f64[1,2]; expected f32[?,2]"));

  Scope shape;
  shape.Set("x", Tensor(DataType::kF32, {1, 3}));
  EXPECT_THAT(std::string((*exec)->Run(shape).message()), HasSubstr("dimension 1"));
}

TEST(ExecutorTest, MissingKernelIsReportedAtPrepareNamingTheOp) {
  Program p = TestProgram();
  KernelTable k;
  k.Add("Add", Device::kCpu, {DataType::kF64}, AddF32);
  auto exec = Executor::Create(p, k);
  ASSERT_FALSE(exec.ok());
  EXPECT_EQ(exec.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_THAT(std::string(exec.status().message()),
              HasSubstr("op 'Add_op' (Add): no kernel for Add(f32) on cpu; have f64"));
}

TEST(ExecutorTest, KernelErrorsCarryTheOpDescription) {
  Program p = TestProgram();
  KernelTable k = TestKernels();
  p.values["bias"].shape = {1, 1};
  p.values["bias"].bytes.resize(4);
  auto exec = Executor::Create(p, k);
  ASSERT_TRUE(exec.ok());
  Scope scope;
  scope.Set("x", Feed({1.f, 1.f}));
  absl::Status s = (*exec)->Run(scope);
  EXPECT_THAT(std::string(s.message()), HasSubstr("op 'Add_op' (Add): shapes differ"));
}

TEST(ExecutorTest, ValuesMovedIntoAScopeAreUsedWithoutCopies) {
  Program p = TestProgram();
  KernelTable k = TestKernels();
  auto exec = Executor::Create(p, k);
  ASSERT_TRUE(exec.ok());
  Scope params;
  MoveValuesIntoScope(p, params);
  EXPECT_TRUE(p.values.at("bias").bytes.empty());
  ASSERT_NE(params.Find("bias"), nullptr);
  EXPECT_EQ(params.Find("bias")->data<float>()[1], -5.f);
  Scope scope(&params);
  scope.Set("x", Feed({2.f, 1.f}));
  ASSERT_TRUE((*exec)->Run(scope).ok());
  EXPECT_EQ(scope.Find("y")->data<float>()[0], 5.f);
  // Without the scope that holds them, the emptied values are an error, not garbage.
  Scope alone;
  alone.Set("x", Feed({2.f, 1.f}));
  absl::Status s = (*exec)->Run(alone);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(s.message()), HasSubstr("the value of 'bias' has 0 bytes"));
}

// Which typed kernel ran last: the executor must re-resolve when the key dtype changes.
const char* g_ran = "";
absl::Status NegF32(KernelContext& ctx) {
  g_ran = "f32";
  ctx.SetOutput(0, ctx.input(0));
  return absl::OkStatus();
}
absl::Status NegF64(KernelContext& ctx) {
  g_ran = "f64";
  ctx.SetOutput(0, ctx.input(0));
  // Writing an output the op does not name must not write past the executor's outputs.
  ctx.Output(3, DataType::kF64, {2});
  return absl::OkStatus();
}

TEST(ExecutorTest, KernelFollowsTheActualDtypeAndExtraOutputsAreHarmless) {
  Program p;
  Var x;
  x.name = "x";
  x.flags = kVarFeed;  // dtype undefined: known only when fed
  p.main().AddVar(x);
  p.main().AddVar(MakeVar("y", kVarFetch));
  p.main().ops.push_back(MakeOp("Relu", {{"X", {"x"}}}, {{"Y", {"y"}}}));
  KernelTable k;
  k.Add("Relu", Device::kCpu, {DataType::kF32}, NegF32);
  k.Add("Relu", Device::kCpu, {DataType::kF64}, NegF64);
  auto exec = Executor::Create(p, k);
  ASSERT_TRUE(exec.ok()) << exec.status();
  Scope s1;
  s1.Set("x", Tensor(DataType::kF32, {2}));
  ASSERT_TRUE((*exec)->Run(s1).ok());
  EXPECT_STREQ(g_ran, "f32");
  Scope s2;
  s2.Set("x", Tensor(DataType::kF64, {2}));
  ASSERT_TRUE((*exec)->Run(s2).ok());
  EXPECT_STREQ(g_ran, "f64");
  EXPECT_EQ(s2.Find("y")->dtype(), DataType::kF64);
}

// Records what the executor tells the kernel, and counts its runs in the op's state.
struct CountingState : KernelState {
  int runs = 0;
};
bool g_bias_constant = false, g_x_constant = true;
int g_state_runs = 0;
absl::Status ObservingAdd(KernelContext& ctx) {
  g_x_constant = ctx.is_constant_input(0);
  g_bias_constant = ctx.is_constant_input(1);
  if (ctx.state() != nullptr) {
    if (*ctx.state() == nullptr) *ctx.state() = std::make_unique<CountingState>();
    g_state_runs = ++static_cast<CountingState*>(ctx.state()->get())->runs;
  }
  return AddF32(ctx);
}

TEST(ExecutorTest, TellsKernelsWhichInputsAreConstantAndKeepsTheirState) {
  Program p = TestProgram();
  p.main().ops.resize(1);  // t = x + bias
  p.main().FindVar("t")->flags = kVarFetch;
  KernelTable k;
  k.Add("Add", Device::kCpu, {DataType::kF32}, ObservingAdd);
  auto exec = Executor::Create(p, k);
  ASSERT_TRUE(exec.ok()) << exec.status();
  Scope scope;
  scope.Set("x", Feed({1.f, 1.f}));
  ASSERT_TRUE((*exec)->Run(scope).ok());
  ASSERT_TRUE((*exec)->Run(scope).ok());
  EXPECT_TRUE(g_bias_constant);
  EXPECT_FALSE(g_x_constant);
  EXPECT_EQ(g_state_runs, 2);

  // A persistable var that some op writes (an optimizer update, say) is not constant.
  Program q = TestProgram();
  q.main().ops.resize(1);
  q.main().FindVar("t")->flags = kVarFetch;
  q.main().ops.push_back(MakeOp("Add", {{"A", {"t"}}, {"B", {"x"}}}, {{"C", {"bias"}}}));
  auto exec2 = Executor::Create(q, k);
  ASSERT_TRUE(exec2.ok()) << exec2.status();
  Scope scope2;
  scope2.Set("x", Feed({1.f, 1.f}));
  ASSERT_TRUE((*exec2)->Run(scope2).ok());
  EXPECT_FALSE(g_bias_constant);
}

TEST(ExecutorTest, CheckNanNamesTheFirstOpWithANonFiniteOutput) {
  // bias = [1, -5]; x = [nan, 1]: t = x + bias holds a NaN, and so do u and y after it.
  Program p = TestProgram();
  KernelTable k = TestKernels();
  auto scope_with = [](float a, float b) {
    auto scope = std::make_unique<Scope>();
    scope->Set("x", Feed({a, b}));
    return scope;
  };
  auto plain = Executor::Create(p, k);
  ASSERT_TRUE(plain.ok());
  EXPECT_TRUE((*plain)->Run(*scope_with(std::nanf(""), 1.f)).ok());  // off: nothing checked

  ExecutorOptions options;
  options.check_nan = true;
  auto checked = Executor::Create(p, k, options);
  ASSERT_TRUE(checked.ok());
  EXPECT_TRUE((*checked)->Run(*scope_with(1.f, 2.f)).ok());
  absl::Status nan = (*checked)->Run(*scope_with(std::nanf(""), 1.f));
  EXPECT_EQ(nan.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(nan.message()),
              HasSubstr("op 'Add_op' (Add) produced NaN in output 't'"));
  absl::Status inf = (*checked)->Run(*scope_with(1.f, -INFINITY));
  EXPECT_THAT(std::string(inf.message()), HasSubstr("produced -inf in output 't'"));
}

}  // namespace
}  // namespace fleet
