// The NCCL communicator on this machine's first GPU, as a group of one rank (NCCL refuses two
// ranks on one GPU, and a lent machine has one): it joins through a file store, its collectives
// run on its own stream after the compute stream's work, and their Events complete; the
// device's collective kernels reach it through the executor. Skipped, and reported as skipped,
// where there is no GPU.
#include "runtime/collective/nccl/nccl_communicator.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <vector>

#include "executor/cuda/cuda_device.h"
#include "executor/executor.h"
#include "ir/text_format.h"
#include "runtime/collective/register.h"

namespace fleet {
namespace {

constexpr auto kDeadline = std::chrono::seconds(60);

class NcclCommunicatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (CudaDeviceCount() == 0) GTEST_SKIP() << "no CUDA device: " << CudaUnavailableReason();
    auto device = CudaDevice::Open(0, CudaDeviceOptions{/*allow_tf32=*/false});
    ASSERT_TRUE(device.ok()) << device.status();
    device_ = std::move(*device);
    folder_ =
        std::filesystem::temp_directory_path() / ("fleet-nccl-test-" + std::to_string(::getpid()));
    std::filesystem::create_directories(folder_);
    NcclCommunicatorOptions options;
    auto store = FileStore::Open(folder_.string());
    ASSERT_TRUE(store.ok()) << store.status();
    options.store = std::shared_ptr<Store>(std::move(*store));
    options.device = device_.get();
    options.rendezvous_timeout = std::chrono::seconds(30);
    auto comm = NcclCommunicator::Create(options);
    ASSERT_TRUE(comm.ok()) << comm.status();
    comm_ = *comm;
  }
  void TearDown() override {
    comm_.reset();
    device_.reset();
    if (!folder_.empty()) std::filesystem::remove_all(folder_);
  }

  Tensor OnGpu(const std::vector<float>& values) {
    Tensor host(DataType::kF32, {static_cast<int64_t>(values.size())});
    std::copy(values.begin(), values.end(), host.data<float>());
    return host.Clone(device_->allocator());
  }
  static std::vector<float> Values(const Tensor& t) {
    Tensor host = t.Clone(CpuAllocator());
    return std::vector<float>(host.data<float>(), host.data<float>() + host.numel());
  }
  static void Wait(const absl::StatusOr<std::shared_ptr<Event>>& event) {
    ASSERT_TRUE(event.ok()) << event.status();
    absl::Status done = (*event)->Wait(Clock::now() + kDeadline);
    ASSERT_TRUE(done.ok()) << done;
  }

  std::unique_ptr<CudaDevice> device_;
  std::filesystem::path folder_;
  std::shared_ptr<NcclCommunicator> comm_;
};

TEST_F(NcclCommunicatorTest, ABucketReducedOverOneRankKeepsItsValues) {
  Tensor a = OnGpu({1, -2, 3.5f});
  Tensor b = OnGpu({7, 8});
  Wait(comm_->AllReduce({a, b}, ReduceOp::kSum));
  EXPECT_EQ(Values(a), (std::vector<float>{1, -2, 3.5f}));
  EXPECT_EQ(Values(b), (std::vector<float>{7, 8}));
  Wait(comm_->AllReduce({a}, ReduceOp::kMean));
  EXPECT_EQ(Values(a), (std::vector<float>{1, -2, 3.5f}));
  const CommunicatorStats stats = comm_->stats();
  EXPECT_EQ(stats[CollectiveKind::kAllReduce].calls, 2);
  EXPECT_EQ(stats[CollectiveKind::kAllReduce].bytes, (5 + 3) * 4);
}

// One rank's only part is the whole tensor: the in-place reduce-scatter keeps its values.
TEST_F(NcclCommunicatorTest, AReduceScatterOverOneRankKeepsItsValues) {
  Tensor a = OnGpu({1, -2, 3.5f, 4});
  Wait(comm_->ReduceScatter(a, ReduceOp::kMean));
  EXPECT_EQ(Values(a), (std::vector<float>{1, -2, 3.5f, 4}));
  EXPECT_EQ(comm_->stats()[CollectiveKind::kReduceScatter].calls, 1);
  EXPECT_EQ(comm_->stats()[CollectiveKind::kReduceScatter].bytes, 4 * 4);
}

TEST_F(NcclCommunicatorTest, BroadcastGatherAndBarrierComplete) {
  Tensor a = OnGpu({4, 5});
  Wait(comm_->Broadcast({a}, 0));
  EXPECT_EQ(Values(a), (std::vector<float>{4, 5}));
  auto gathered = std::make_shared<std::vector<std::string>>();
  Wait(comm_->AllGather("rows", gathered));
  EXPECT_EQ(*gathered, std::vector<std::string>{"rows"});
  Wait(comm_->Barrier());
}

TEST_F(NcclCommunicatorTest, RefusesHostTensorsAndBadRoots) {
  Tensor host(DataType::kF32, {2});
  auto on_host = comm_->AllReduce({host}, ReduceOp::kSum);
  ASSERT_FALSE(on_host.ok());
  EXPECT_NE(on_host.status().message().find("is on cpu"), std::string::npos) << on_host.status();
  auto root = comm_->Broadcast({OnGpu({1})}, 3);
  ASSERT_FALSE(root.ok());
  EXPECT_NE(root.status().message().find("root 3 of 1 ranks"), std::string::npos);
  Tensor ints = Tensor(DataType::kI64, {2}).Clone(device_->allocator());
  auto typed = comm_->AllReduce({ints}, ReduceOp::kSum);
  ASSERT_FALSE(typed.ok());
  EXPECT_NE(typed.status().message().find("i64"), std::string::npos);
}

// fleet.allreduce and fleet.broadcast placed on cuda:0, as fleet-run places a collective job's
// buckets, run through the executor on the NCCL communicator installed as the
// DeviceCommunicator: in place on the GPU, counted by the communicator.
TEST_F(NcclCommunicatorTest, TheDeviceCollectiveKernelsRunOnItThroughTheExecutor) {
  absl::StatusOr<Program> program = ParseProgramText(R"(
fleet.program v1 opset=17
block 0 {
  var %g : f32[3] feed fetch
  var %h : f32[2] feed fetch
  (Out: [%g, %h]) = fleet.allreduce(X: [%g, %h]) {reduce = "mean"} name="ar" device="cuda:0"
  (Out: [%h]) = fleet.broadcast(X: [%h]) {root = 0} name="bc" device="cuda:0"
}
)",
                                                     "nccl_kernels.txt");
  ASSERT_TRUE(program.ok()) << program.status();
  KernelTable kernels;
  RegisterDeviceCollectiveKernels(kernels, Device::kCuda);
  auto env = std::make_shared<ExecutionEnv>();
  env->Set(std::make_shared<DeviceCommunicator>(DeviceCommunicator{comm_}));
  ExecutorOptions options;
  options.env = env;
  options.devices = {device_->context()};
  options.wait_timeout = kDeadline;
  auto executor = Executor::Create(*program, kernels, options);
  ASSERT_TRUE(executor.ok()) << executor.status();
  Scope scope;
  scope.Set("g", OnGpu({1.5f, -2, 4}));
  scope.Set("h", OnGpu({3, 0.25f}));
  absl::Status ran = (*executor)->Run(scope);
  ASSERT_TRUE(ran.ok()) << ran;
  EXPECT_EQ(scope.Find("g")->device(), device_->context().device);
  EXPECT_EQ(Values(*scope.Find("g")), (std::vector<float>{1.5f, -2, 4}));
  EXPECT_EQ(Values(*scope.Find("h")), (std::vector<float>{3, 0.25f}));
  const CommunicatorStats stats = comm_->stats();
  EXPECT_EQ(stats[CollectiveKind::kAllReduce].calls, 1);
  EXPECT_EQ(stats[CollectiveKind::kAllReduce].bytes, (3 + 2) * 4);
  EXPECT_EQ(stats[CollectiveKind::kBroadcast].calls, 1);
}

}  // namespace
}  // namespace fleet
