// fleet.allreduce, fleet.reduce and fleet.broadcast run through the Executor, two ranks as threads
// of this process, each with its own ExecutionEnv and communicator: results against the closed
// form, the allreduce really in flight while later independent ops run, ops on a device going
// through the device's communicator, and the kernels' errors.
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "executor/executor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "ir/text_format.h"
#include "kernels/cpu/register.h"
#include "runtime/collective/register.h"
#include "tests/runtime/collective/collective_test_util.h"

namespace fleet {
namespace {

using ::testing::HasSubstr;
using namespace std::chrono_literals;
using testing::Group;
using testing::ShmGroup;
using testing::RunRanks;
using testing::StoreKind;

// Rank 0's test.probe opens it; rank 1 starts its step only then. Had rank 0's executor waited for
// the allreduce before running the probe (placed after it), neither could go on: rank 1's wait
// then fails at its deadline instead of hanging.
class ProbeGate {
 public:
  void Open() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      open_ = true;
    }
    cv_.notify_all();
  }
  bool WaitOpen(std::chrono::seconds timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, timeout, [this] { return open_; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
};

// test.probe(X) -> Y: Y = X; opens the env's ProbeGate, if it has one.
absl::Status ProbeKernel(KernelContext& ctx) {
  if (ProbeGate* gate = ctx.env().Get<ProbeGate>()) gate->Open();
  ctx.SetOutput(0, ctx.input(0).Clone());
  return absl::OkStatus();
}

KernelTable Kernels() {
  KernelTable table;
  RegisterCpuKernels(table);
  RegisterCollectiveKernels(table);
  table.Add("test.probe", Device::kCpu, {DataType::kF32}, &ProbeKernel);
  return table;
}

Program Parse(const std::string& text) {
  absl::StatusOr<Program> p = ParseProgramText(text, "test.txt");
  EXPECT_TRUE(p.ok()) << p.status();
  return p.ok() ? *std::move(p) : Program();
}

Tensor F32(std::vector<float> v) {
  Tensor t(DataType::kF32, {static_cast<int64_t>(v.size())});
  std::copy(v.begin(), v.end(), t.data<float>());
  return t;
}

std::vector<float> ToVector(const Tensor* t) {
  if (t == nullptr) return {};
  return std::vector<float>(t->data<float>(), t->data<float>() + t->numel());
}

// One bucket of two gradients, reduced to their mean over the ranks. The probe runs while the
// allreduce is in flight; z and w read the reduced values.
constexpr char kBucketProgram[] = R"(
fleet.program v1 opset=17
block 0 {
  var %x : f32[4] feed
  var %y : f32[3] feed
  var %g : f32[4]
  var %h : f32[3]
  var %p : f32[4]
  var %z : f32[4] fetch
  var %w : f32[3] fetch
  (C: %g) = Mul(A: %x, B: %x)
  (C: %h) = Add(A: %y, B: %y)
  (Out: [%g, %h]) = fleet.allreduce(X: [%g, %h]) {reduce = "mean"} name="bucket0"
  (Y: %p) = test.probe(X: %x)
  (C: %z) = Add(A: %g, B: %p)
  (C: %w) = Add(A: %h, B: %y)
}
)";

std::vector<float> XOf(int rank, int step) {
  const float s = static_cast<float>(rank + 1 + step);
  return {1 * s, -2 * s, 0.5f * s, 4 * s};
}
std::vector<float> YOf(int rank, int step) {
  const float s = static_cast<float>(rank + 1) * (step + 1);
  return {0.25f * s, 3 * s, -1 * s};
}

TEST(CollectiveKernelsTest, AllReduceInFlightThroughTheExecutorOnTwoRanks) {
  Group group(StoreKind::kTcp, 2);
  ASSERT_TRUE(group.ok());
  Program program = Parse(kBucketProgram);
  KernelTable kernels = Kernels();
  auto gate = std::make_shared<ProbeGate>();

  std::vector<std::unique_ptr<Executor>> executors(2);
  for (int rank = 0; rank < 2; ++rank) {
    auto env = std::make_shared<ExecutionEnv>();
    env->Set<Communicator>(group.shared(rank));
    if (rank == 0) env->Set(gate);
    ExecutorOptions options;
    options.env = env;
    options.wait_timeout = 30s;
    auto exec = Executor::Create(program, kernels, options);
    ASSERT_TRUE(exec.ok()) << exec.status();
    executors[rank] = *std::move(exec);
  }

  for (int step = 0; step < 2; ++step) {
    std::vector<Scope> scopes(2);
    RunRanks(2, [&](int rank) {
      if (rank == 1 && step == 0) {
        ASSERT_TRUE(gate->WaitOpen(20s)) << "rank 0's probe did not run while its allreduce was "
                                            "in flight";
      }
      scopes[rank].Set("x", F32(XOf(rank, step)));
      scopes[rank].Set("y", F32(YOf(rank, step)));
      absl::Status s = executors[rank]->Run(scopes[rank]);
      EXPECT_TRUE(s.ok()) << "rank " << rank << ": " << s;
    });
    for (int rank = 0; rank < 2; ++rank) {
      std::vector<float> z(4), w(3);
      for (int i = 0; i < 4; ++i) {
        const float x0 = XOf(0, step)[i], x1 = XOf(1, step)[i];
        z[i] = (x0 * x0 + x1 * x1) / 2 + XOf(rank, step)[i];
      }
      for (int i = 0; i < 3; ++i) {
        w[i] = (2 * YOf(0, step)[i] + 2 * YOf(1, step)[i]) / 2 + YOf(rank, step)[i];
      }
      EXPECT_EQ(ToVector(scopes[rank].Find("z")), z) << "rank " << rank << ", step " << step;
      EXPECT_EQ(ToVector(scopes[rank].Find("w")), w) << "rank " << rank << ", step " << step;
    }
  }
}

// LocalSGD's warm start: the gradient is averaged inside a conditional sub-block, and the
// parent reads the averaged value after it (z = mean(x*x) + x).
constexpr char kSubBlockProgram[] = R"(
fleet.program v1 opset=17
block 0 {
  var %x : f32[4] feed
  var %c : bool[1] feed
  var %g : f32[4]
  var %z : f32[4] fetch
  (C: %g) = Mul(A: %x, B: %x)
  (Out: %g) = fleet.conditional_block(Cond: %c) {sub_block = ^1}
  (C: %z) = Add(A: %g, B: %x)
}
block 1 parent 0 {
  (Out: %g) = fleet.allreduce(X: %g) {reduce = "mean"} name="warm"
}
)";

// The reduce mode's update: an allreduce in flight in the parent, read inside a conditional
// sub-block, which must wait for it (z = mean(x*x) + x).
constexpr char kPendingIntoSubBlockProgram[] = R"(
fleet.program v1 opset=17
block 0 {
  var %x : f32[4] feed
  var %c : bool[1] feed
  var %g : f32[4]
  var %z : f32[4] fetch
  (C: %g) = Mul(A: %x, B: %x)
  (Out: %g) = fleet.allreduce(X: %g) {reduce = "mean"} name="bucket"
  (C: %z) = Add(A: %x, B: %x)
  (Out: %z) = fleet.conditional_block(Cond: %c) {sub_block = ^1}
}
block 1 parent 0 {
  (C: %z) = Add(A: %g, B: %x)
}
)";

class SubBlockCollectiveTest : public ::testing::TestWithParam<const char*> {};

TEST_P(SubBlockCollectiveTest, TheAverageCrossesTheSubBlockBoundary) {
  Group group(StoreKind::kFile, 2);
  ASSERT_TRUE(group.ok());
  Program program = Parse(GetParam());
  KernelTable kernels = Kernels();
  std::vector<Scope> scopes(2);
  RunRanks(2, [&](int rank) {
    auto env = std::make_shared<ExecutionEnv>();
    env->Set<Communicator>(group.shared(rank));
    ExecutorOptions options;
    options.env = env;
    auto exec = Executor::Create(program, kernels, options);
    ASSERT_TRUE(exec.ok()) << exec.status();
    scopes[rank].Set("x", F32(XOf(rank, 0)));
    Tensor c(DataType::kBool, {1});
    *c.data<bool>() = true;
    scopes[rank].Set("c", c);
    absl::Status s = (*exec)->Run(scopes[rank]);
    EXPECT_TRUE(s.ok()) << "rank " << rank << ": " << s;
  });
  for (int rank = 0; rank < 2; ++rank) {
    std::vector<float> z(4);
    for (int i = 0; i < 4; ++i) {
      const float x0 = XOf(0, 0)[i], x1 = XOf(1, 0)[i];
      z[i] = (x0 * x0 + x1 * x1) / 2 + XOf(rank, 0)[i];
    }
    EXPECT_EQ(ToVector(scopes[rank].Find("z")), z) << "rank " << rank;
  }
}

INSTANTIATE_TEST_SUITE_P(Programs, SubBlockCollectiveTest,
                         ::testing::Values(kSubBlockProgram, kPendingIntoSubBlockProgram),
                         [](const ::testing::TestParamInfo<const char*>& info) {
                           return info.index == 0 ? std::string("AllReduceInTheSubBlock")
                                                  : std::string("AllReduceInFlightIntoIt");
                         });

// The startup program's broadcast: every rank's persistable w becomes rank 1's.
constexpr char kBroadcastProgram[] = R"(
fleet.program v1 opset=17
block 0 {
  var %w : f32[3] persistable
  var %b : f32[2] persistable
  (Out: [%w, %b]) = fleet.broadcast(X: [%w, %b]) {root = 1}
}
)";

TEST(CollectiveKernelsTest, BroadcastMakesEveryRanksParametersTheRootsOnes) {
  Group group(StoreKind::kFile, 2);
  ASSERT_TRUE(group.ok());
  Program program = Parse(kBroadcastProgram);
  KernelTable kernels = Kernels();
  std::vector<Scope> scopes(2);
  RunRanks(2, [&](int rank) {
    auto env = std::make_shared<ExecutionEnv>();
    env->Set<Communicator>(group.shared(rank));
    ExecutorOptions options;
    options.env = env;
    auto exec = Executor::Create(program, kernels, options);
    ASSERT_TRUE(exec.ok()) << exec.status();
    const float r = static_cast<float>(rank);
    scopes[rank].Set("w", F32({r, r + 1, r + 2}));
    scopes[rank].Set("b", F32({-r, 10 * r}));
    absl::Status s = (*exec)->Run(scopes[rank]);
    EXPECT_TRUE(s.ok()) << "rank " << rank << ": " << s;
  });
  for (int rank = 0; rank < 2; ++rank) {
    EXPECT_EQ(ToVector(scopes[rank].Find("w")), (std::vector<float>{1, 2, 3})) << rank;
    EXPECT_EQ(ToVector(scopes[rank].Find("b")), (std::vector<float>{-1, 10})) << rank;
  }
}

// The reduce mode's gradient average: root 3 is rank 1 of 2 (attributes are taken modulo the
// group's size), which alone receives the mean; rank 0's bucket keeps its own values.
constexpr char kReduceProgram[] = R"(
fleet.program v1 opset=17
block 0 {
  var %g : f32[3] persistable
  var %h : f32[2] persistable
  (Out: [%g, %h]) = fleet.reduce(X: [%g, %h]) {reduce = "mean", root = 3}
}
)";

TEST(CollectiveKernelsTest, ReduceGivesTheRootTheMeanAndLeavesTheOthersAlone) {
  Group group(StoreKind::kFile, 2);
  ASSERT_TRUE(group.ok());
  Program program = Parse(kReduceProgram);
  KernelTable kernels = Kernels();
  std::vector<Scope> scopes(2);
  RunRanks(2, [&](int rank) {
    auto env = std::make_shared<ExecutionEnv>();
    env->Set<Communicator>(group.shared(rank));
    ExecutorOptions options;
    options.env = env;
    auto exec = Executor::Create(program, kernels, options);
    ASSERT_TRUE(exec.ok()) << exec.status();
    const float r = static_cast<float>(rank);
    scopes[rank].Set("g", F32({r, 2 * r, 4 + r}));
    scopes[rank].Set("h", F32({-r, 10 * r}));
    absl::Status s = (*exec)->Run(scopes[rank]);
    EXPECT_TRUE(s.ok()) << "rank " << rank << ": " << s;
  });
  EXPECT_EQ(ToVector(scopes[1].Find("g")), (std::vector<float>{0.5f, 1, 4.5f}));
  EXPECT_EQ(ToVector(scopes[1].Find("h")), (std::vector<float>{-0.5f, 5}));
  EXPECT_EQ(ToVector(scopes[0].Find("g")), (std::vector<float>{0, 0, 4}));
  EXPECT_EQ(ToVector(scopes[0].Find("h")), (std::vector<float>{0, 0}));
  EXPECT_EQ(group[1].stats()[CollectiveKind::kReduce].calls, 1);
  EXPECT_EQ(group[1].stats()[CollectiveKind::kAllReduce].calls, 0);
}

constexpr char kAllGatherRowsProgram[] = R"(
fleet.program v1 opset=17
block 0 {
  var %g : f32[?,2] sparse_rows feed fetch
  (Out: %g) = fleet.allgather_rows(X: %g) {reduce = "mean"}
}
)";

Tensor Rows(std::vector<int64_t> ids, std::vector<float> values) {
  const auto n = static_cast<int64_t>(ids.size());
  Tensor rows(DataType::kI64, {n});
  std::copy(ids.begin(), ids.end(), rows.data<int64_t>());
  Tensor v(DataType::kF32, {n, 2});
  std::copy(values.begin(), values.end(), v.data<float>());
  return Tensor::SparseRows(std::move(v), std::move(rows), 5);
}

TEST(CollectiveKernelsTest, AllGatherRowsGivesEveryRankAllRanksRowsAveraged) {
  Group group(StoreKind::kFile, 2);
  ASSERT_TRUE(group.ok());
  Program program = Parse(kAllGatherRowsProgram);
  KernelTable kernels = Kernels();
  std::vector<Scope> scopes(2);
  RunRanks(2, [&](int rank) {
    auto env = std::make_shared<ExecutionEnv>();
    env->Set<Communicator>(group.shared(rank));
    ExecutorOptions options;
    options.env = env;
    auto exec = Executor::Create(program, kernels, options);
    ASSERT_TRUE(exec.ok()) << exec.status();
    // Rank 0 touched row 1 twice (its rows add up before they travel) and row 3; rank 1 row 3.
    scopes[rank].Set("g", rank == 0 ? Rows({1, 3, 1}, {1, 1, 2, 2, 3, 3}) : Rows({3}, {10, 20}));
    absl::Status s = (*exec)->Run(scopes[rank]);
    EXPECT_TRUE(s.ok()) << "rank " << rank << ": " << s;
  });
  for (int rank = 0; rank < 2; ++rank) {
    const Tensor* g = scopes[rank].Find("g");
    ASSERT_NE(g, nullptr);
    ASSERT_TRUE(g->is_sparse_rows()) << rank;
    EXPECT_EQ(g->sparse_height(), 5);
    // Rank 0's rows, then rank 1's, each divided by the 2 ranks.
    EXPECT_EQ(std::vector<int64_t>(g->rows().data<int64_t>(), g->rows().data<int64_t>() + 3),
              (std::vector<int64_t>{1, 3, 3}))
        << rank;
    EXPECT_EQ(ToVector(g), (std::vector<float>{2, 2, 1, 1, 5, 10})) << rank;
  }
}

// One-op program: (Out: %g) = fleet.allreduce(X: %g) with the given attributes and dtype.
std::string OneAllReduce(const std::string& attrs, const std::string& dtype = "f32") {
  return absl::StrCat(R"(
fleet.program v1 opset=17
block 0 {
  var %g : )",
                      dtype, R"([2] feed fetch
  (Out: %g) = fleet.allreduce(X: %g) )",
                      attrs, R"( name="ar"
}
)");
}

// Runs a one-op program on one rank; the error it ends with.
absl::Status RunOne(const std::string& text, std::shared_ptr<ExecutionEnv> env) {
  Program program = Parse(text);
  KernelTable kernels = Kernels();
  ExecutorOptions options;
  options.env = std::move(env);
  auto exec = Executor::Create(program, kernels, options);
  if (!exec.ok()) return exec.status();
  Scope scope;
  scope.Set("g", F32({1, 2}));
  return (*exec)->Run(scope);
}

TEST(CollectiveKernelsTest, WithoutACommunicatorTheOpFailsNamingItself) {
  absl::Status s = RunOne(OneAllReduce(""), std::make_shared<ExecutionEnv>());
  EXPECT_TRUE(absl::IsFailedPrecondition(s)) << s;
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("op 'ar' (fleet.allreduce): no communicator in the execution environment"));
}

TEST(CollectiveKernelsTest, BadAttributesAndDtypesAreRefused) {
  Group group(StoreKind::kFile, 1);
  ASSERT_TRUE(group.ok());
  auto env = std::make_shared<ExecutionEnv>();
  env->Set<Communicator>(group.shared(0));

  absl::Status s = RunOne(OneAllReduce(R"({reduce = "max"})"), env);
  EXPECT_TRUE(absl::IsInvalidArgument(s)) << s;
  EXPECT_THAT(
      std::string(s.message()),
      HasSubstr("(fleet.allreduce): attribute reduce=\"max\"; expected \"sum\" or \"mean\""));

  s = RunOne(OneAllReduce("{group = 2}"), env);
  EXPECT_TRUE(absl::IsUnimplemented(s)) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr("group 2 is not supported"));

  s = RunOne(OneAllReduce("", "i64"), env);
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(std::string(s.message()), HasSubstr("no kernel for fleet.allreduce(i64) on cpu"));

  // A group of one: the mean of one rank is its own value.
  EXPECT_TRUE(RunOne(OneAllReduce(R"({reduce = "mean"})"), env).ok());
}

// Memory of cuda:0 that the host can read too, as CUDA's managed memory is. The host
// communicators accept it, so which communicator a device's kernel picks shows without a GPU.
class ManagedAllocator final : public Allocator {
 public:
  ManagedAllocator() : Allocator(DeviceId(Device::kCuda, 0), /*host_accessible=*/true) {}

 protected:
  void* AllocateRaw(size_t bytes) override { return std::malloc(bytes); }
  void FreeRaw(void* data, size_t /*bytes*/) override { std::free(data); }
};

constexpr char kDeviceBucketProgram[] = R"(
fleet.program v1 opset=17
block 0 {
  var %g : f32[3] feed fetch
  var %w : f32[2] feed fetch
  (Out: [%g]) = fleet.allreduce(X: [%g]) {reduce = "mean"} name="ar" device="cuda:0"
  (Out: [%w]) = fleet.broadcast(X: [%w]) {root = 1} name="bc" device="cuda:0"
}
)";

KernelTable DeviceKernels() {
  KernelTable table = Kernels();
  RegisterDeviceCollectiveKernels(table, Device::kCuda);
  return table;
}

// Two ranks whose host communicators form one group and whose device communicators another:
// the ops placed on cuda:0 average and broadcast through the device group only.
TEST(CollectiveKernelsTest, OpsOnADeviceGoThroughTheDeviceCommunicator) {
  Group host(StoreKind::kFile, 2);
  ShmGroup device(StoreKind::kFile, 2);
  ASSERT_TRUE(host.ok());
  ASSERT_TRUE(device.ok());
  Program program = Parse(kDeviceBucketProgram);
  KernelTable kernels = DeviceKernels();
  ManagedAllocator memory;
  std::vector<Scope> scopes(2);
  RunRanks(2, [&](int rank) {
    auto env = std::make_shared<ExecutionEnv>();
    env->Set<Communicator>(host.shared(rank));
    env->Set(std::make_shared<DeviceCommunicator>(DeviceCommunicator{device.shared(rank)}));
    ExecutorOptions options;
    options.env = env;
    options.devices = {DeviceContext{memory.device(), &memory, nullptr}};
    options.wait_timeout = 30s;
    auto exec = Executor::Create(program, kernels, options);
    ASSERT_TRUE(exec.ok()) << exec.status();
    const float r = static_cast<float>(rank);
    scopes[rank].Set("g", F32({r, 2 * r, 1 - r}).Clone(&memory));
    scopes[rank].Set("w", F32({r, 10 + r}).Clone(&memory));
    absl::Status s = (*exec)->Run(scopes[rank]);
    EXPECT_TRUE(s.ok()) << "rank " << rank << ": " << s;
  });
  for (int rank = 0; rank < 2; ++rank) {
    EXPECT_EQ(ToVector(scopes[rank].Find("g")), (std::vector<float>{0.5f, 1, 0.5f})) << rank;
    EXPECT_EQ(ToVector(scopes[rank].Find("w")), (std::vector<float>{1, 11})) << rank;
    EXPECT_EQ(device[rank].stats()[CollectiveKind::kAllReduce].calls, 1) << rank;
    EXPECT_EQ(device[rank].stats()[CollectiveKind::kBroadcast].calls, 1) << rank;
    EXPECT_EQ(Total(host[rank].stats()).calls, 0) << rank;
  }
}

// Device tensors are never handed to the host's communicator: without a device communicator the
// op fails, naming its device.
TEST(CollectiveKernelsTest, OnADeviceWithoutADeviceCommunicatorTheOpFailsNamingTheDevice) {
  Group host(StoreKind::kFile, 1);
  ASSERT_TRUE(host.ok());
  auto env = std::make_shared<ExecutionEnv>();
  env->Set<Communicator>(host.shared(0));
  Program program = Parse(kDeviceBucketProgram);
  KernelTable kernels = DeviceKernels();
  ManagedAllocator memory;
  ExecutorOptions options;
  options.env = env;
  options.devices = {DeviceContext{memory.device(), &memory, nullptr}};
  auto exec = Executor::Create(program, kernels, options);
  ASSERT_TRUE(exec.ok()) << exec.status();
  Scope scope;
  scope.Set("g", F32({1, 2, 3}).Clone(&memory));
  scope.Set("w", F32({4, 5}).Clone(&memory));
  absl::Status s = (*exec)->Run(scope);
  EXPECT_TRUE(absl::IsFailedPrecondition(s)) << s;
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("op 'ar' (fleet.allreduce): no communicator for tensors on cuda:0"));
  EXPECT_EQ(Total(host[0].stats()).calls, 0);
}

}  // namespace
}  // namespace fleet
