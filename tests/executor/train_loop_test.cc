// The training loop on a tiny program with kernels defined here: the startup program runs once,
// persistable vars an op rewrites into a new tensor reach the shared state, every batch runs
// exactly once (also with Hogwild threads), and setup errors name the var.
#include "executor/training/train_loop.h"

#include <sstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fleet {
namespace {

using ::testing::HasSubstr;

// Records 0..n-1; record i is x = [i].
class RangeDataset : public Dataset {
 public:
  explicit RangeDataset(int64_t n) : n_(n) {}
  int64_t num_records() const override { return n_; }
  std::vector<std::string> tensor_names() const override { return {"x"}; }
  absl::Status Gather(absl::Span<const int64_t> rows, Batch& batch) const override {
    Tensor x(DataType::kF32, {static_cast<int64_t>(rows.size()), 1});
    for (size_t i = 0; i < rows.size(); ++i) x.data<float>()[i] = static_cast<float>(rows[i]);
    batch.tensors["x"] = x;
    return absl::OkStatus();
  }

 private:
  int64_t n_;
};

// test.mean_sq: the mean of the squares of its input, a scalar.
absl::Status MeanSquare(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  double sum = 0;
  for (int64_t i = 0; i < x.numel(); ++i) sum += x.data<float>()[i] * x.data<float>()[i];
  *ctx.Output(0, DataType::kF32, {})->data<float>() = static_cast<float>(sum / x.numel());
  return absl::OkStatus();
}

// test.increment: a new tensor holding input + 1 (not in place, unlike the optimizers).
absl::Status Increment(KernelContext& ctx) {
  *ctx.Output(0, DataType::kF32, {1})->data<float>() = ctx.input(0).data<float>()[0] + 1;
  return absl::OkStatus();
}

// test.fill: a [1] tensor holding the attribute `value`.
absl::Status Fill(KernelContext& ctx) {
  *ctx.Output(0, DataType::kF32, {1})->data<float>() = ctx.GetFloat("value", 0);
  return absl::OkStatus();
}

KernelTable TestKernels() {
  KernelTable k;
  k.Add("test.mean_sq", Device::kCpu, {DataType::kF32}, MeanSquare);
  k.Add("test.increment", Device::kCpu, {DataType::kF32}, Increment);
  k.AddAnyType("test.fill", Device::kCpu, Fill);
  return k;
}

Var MakeVar(const std::string& name, std::vector<int64_t> shape, uint32_t flags) {
  Var v;
  v.name = name;
  v.dtype = DataType::kF32;
  v.shape = std::move(shape);
  v.flags = flags;
  return v;
}

Op MakeOp(const std::string& type, std::vector<Slot> in, std::vector<Slot> out, uint32_t role) {
  Op op;
  op.type = type;
  op.name = type;
  op.inputs = std::move(in);
  op.outputs = std::move(out);
  op.role = role;
  return op;
}

// loss = mean(x^2); count += 1 every step (the "optimizer").
Program MainProgram() {
  Program p;
  p.main().AddVar(MakeVar("x", {-1, 1}, kVarFeed));
  p.main().AddVar(MakeVar("loss", {}, kVarFetch));
  p.main().AddVar(MakeVar("count", {1}, kVarPersistable));
  p.main().ops.push_back(MakeOp("test.mean_sq", {{"X", {"x"}}}, {{"Y", {"loss"}}}, kRoleLoss));
  p.main().ops.push_back(
      MakeOp("test.increment", {{"X", {"count"}}}, {{"Y", {"count"}}}, kRoleOptimize));
  return p;
}

Program StartupProgram(float start) {
  Program p;
  p.main().AddVar(MakeVar("count", {1}, kVarPersistable));
  Op fill = MakeOp("test.fill", {}, {{"Y", {"count"}}}, kRoleForward);
  fill.attrs["value"] = AttrValue(start);
  p.main().ops.push_back(fill);
  return p;
}

TrainOptions Options(int threads) {
  TrainOptions o;
  o.batch_size = 3;
  o.epochs = 2;
  o.threads = threads;
  o.loss_var = "loss";
  o.data_path = "range";
  return o;
}

TEST(TrainLoopTest, RunsStartupOnceAndEveryBatchOnce) {
  Program main = MainProgram();
  Program startup = StartupProgram(100);
  EXPECT_TRUE(IsTrainingProgram(main));
  EXPECT_FALSE(IsTrainingProgram(startup));
  KernelTable kernels = TestKernels();
  Scope state;
  std::ostringstream log;
  auto r =
      Train(main, &startup, state, std::make_shared<RangeDataset>(10), kernels, Options(1), log);
  ASSERT_TRUE(r.ok()) << r.status();
  // 10 records in batches of 3: 4 batches per epoch, 2 epochs.
  EXPECT_EQ(r->steps, 8);
  EXPECT_EQ(r->samples, 20);
  EXPECT_FLOAT_EQ(r->final_loss, 81.f);  // the last batch is record 9 alone
  ASSERT_NE(state.FindLocal("count"), nullptr);
  EXPECT_EQ(state.FindLocal("count")->data<float>()[0], 108.f);
  EXPECT_THAT(log.str(), HasSubstr("step 8/8"));
}

TEST(TrainLoopTest, HogwildWorkersShareTheState) {
  Program main = MainProgram();
  Program startup = StartupProgram(0);
  KernelTable kernels = TestKernels();
  Scope state;
  std::ostringstream log;
  TrainOptions options = Options(3);
  options.epochs = 10;
  auto r = Train(main, &startup, state, std::make_shared<RangeDataset>(10), kernels, options, log);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->steps, 40);
  EXPECT_EQ(r->samples, 100);
  // Unlocked read-modify-writes may lose increments (Hogwild), but they reach the shared var.
  const float count = state.FindLocal("count")->data<float>()[0];
  EXPECT_GE(count, 1.f);
  EXPECT_LE(count, 40.f);
}

TEST(TrainLoopTest, StepsStopEarlyAndRepeatEpochsAsNeeded) {
  Program main = MainProgram();
  Program startup = StartupProgram(0);
  KernelTable kernels = TestKernels();
  Scope state;
  std::ostringstream log;
  TrainOptions options = Options(1);
  options.epochs = 0;
  options.max_steps = 9;
  auto r = Train(main, &startup, state, std::make_shared<RangeDataset>(10), kernels, options, log);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->steps, 9);
  EXPECT_EQ(state.FindLocal("count")->data<float>()[0], 9.f);
  EXPECT_THAT(log.str(), HasSubstr("epoch 3/3"));
}

TEST(TrainLoopTest, SetupErrorsNameTheVar) {
  KernelTable kernels = TestKernels();
  std::ostringstream log;
  auto data = std::make_shared<RangeDataset>(10);
  {
    Program main = MainProgram();
    Scope state;
    auto r = Train(main, nullptr, state, data, kernels, Options(1), log);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_THAT(std::string(r.status().message()),
                HasSubstr("persistable var 'count' has no value"));
  }
  {
    Program main = MainProgram();
    Program startup = StartupProgram(0);
    Scope state;
    TrainOptions options = Options(1);
    options.loss_var = "cost";
    auto r = Train(main, &startup, state, data, kernels, options, log);
    EXPECT_THAT(std::string(r.status().message()), HasSubstr("the loss var 'cost'"));
  }
  {
    Program main = MainProgram();
    main.main().AddVar(MakeVar("label", {-1}, kVarFeed));
    Program startup = StartupProgram(0);
    Scope state;
    auto r = Train(main, &startup, state, data, kernels, Options(1), log);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(r.status().message()),
                HasSubstr("range: the data has no tensor label"));
  }
}

TEST(TrainLoopTest, ANonFiniteLossStopsAtItsStep) {
  Program main = MainProgram();
  Program startup = StartupProgram(0);
  KernelTable kernels = TestKernels();
  // x^2 of 1e20 overflows f32 in the mean: the loss is inf from the first batch holding it.
  class Huge : public RangeDataset {
   public:
    Huge() : RangeDataset(10) {}
    absl::Status Gather(absl::Span<const int64_t> rows, Batch& batch) const override {
      absl::Status status = RangeDataset::Gather(rows, batch);
      if (!status.ok()) return status;
      Tensor& x = batch.tensors["x"];
      for (int64_t i = 0; i < x.numel(); ++i) {
        if (x.data<float>()[i] == 7) x.data<float>()[i] = 1e20f;
      }
      return absl::OkStatus();
    }
  };
  Scope state;
  std::ostringstream log;
  auto r = Train(main, &startup, state, std::make_shared<Huge>(), kernels, Options(1), log);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  // Record 7 is in the third batch of 3.
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("step 3: the loss 'loss' is inf"));
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("--check-nan"));
}

}  // namespace
}  // namespace fleet
