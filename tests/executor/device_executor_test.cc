// Ops on their own devices: each op's kernel is resolved for its device and allocates from its
// device's allocator; fleet.memcpy moves values between devices; an op placed on a device the
// executor lacks, or reading memory of another device, is a clear error.
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "executor/executor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "ir/text_format.h"
#include "tests/executor/test_device.h"

namespace fleet {
namespace {

using ::testing::HasSubstr;
using testing::TestDeviceAllocator;

// Host memory with its own counts, to see which allocations went through the op's context.
class CountingHostAllocator final : public Allocator {
 public:
  CountingHostAllocator() : Allocator(DeviceId(Device::kCpu), /*host_accessible=*/true) {}

 protected:
  void* AllocateRaw(size_t bytes) override {
    return std::aligned_alloc(64, (bytes + 63) / 64 * 64);
  }
  void FreeRaw(void* data, size_t /*bytes*/) override { std::free(data); }
};

std::vector<std::string> g_ran;  // which kernels ran, in order

absl::Status HostRelu(KernelContext& ctx) {
  g_ran.push_back("relu on " + ctx.device().device.ToString());
  const Tensor& x = ctx.input(0);
  Tensor* y = ctx.Output(0, DataType::kF32, x.shape());
  for (int64_t i = 0; i < x.numel(); ++i) y->data<float>()[i] = std::max(0.f, x.data<float>()[i]);
  return absl::OkStatus();
}

// The test device's Relu: the device cannot compute, so it stages through the host with the
// device's own copy functions, as a real device kernel would launch on its memory.
absl::Status DeviceRelu(KernelContext& ctx) {
  g_ran.push_back("relu on " + ctx.device().device.ToString());
  Tensor x = ctx.input(0).Clone(CpuAllocator());
  for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = std::max(0.f, x.data<float>()[i]);
  Tensor* y = ctx.Output(0, DataType::kF32, x.shape());
  ctx.device().allocator->CopyFromHost(y->raw_data(), x.raw_data(), x.nbytes());
  return absl::OkStatus();
}

// fleet.memcpy: X copied onto the op's device.
absl::Status Memcpy(KernelContext& ctx) {
  ctx.SetOutput(0, ctx.input(0).Clone(ctx.device().allocator));
  return absl::OkStatus();
}

KernelTable TestKernels() {
  KernelTable k;
  KernelTraits copy;
  copy.inputs_anywhere = true;
  for (Device d : {Device::kCpu, Device::kCuda}) {
    k.AddAnyType("fleet.memcpy", d, &Memcpy, 0);
    k.SetTraits("fleet.memcpy", d, copy);
  }
  k.Add("Relu", Device::kCpu, {DataType::kF32}, &HostRelu);
  k.Add("Relu", Device::kCuda, {DataType::kF32}, &DeviceRelu);
  return k;
}

Program Parse(const std::string& text) {
  absl::StatusOr<Program> p = ParseProgramText(text, "test.txt");
  EXPECT_TRUE(p.ok()) << p.status();
  return p.ok() ? *std::move(p) : Program();
}

Tensor Values(std::vector<float> v) {
  Tensor t(DataType::kF32, {static_cast<int64_t>(v.size())});
  std::copy(v.begin(), v.end(), t.data<float>());
  return t;
}

// x -> device -> Relu there -> host Relu (a no-op on its result) -> y.
constexpr char kCopiesProgram[] = R"(
fleet.program v1 opset=17
block 0 {
  var %x : f32[4] feed
  var %xd : f32[4]
  var %hd : f32[4]
  var %h : f32[4]
  var %y : f32[4] fetch
  (Out: %xd) = fleet.memcpy(X: %x) device="cuda:0"
  (Y: %hd) = Relu(X: %xd) name="r" device="cuda:0"
  (Out: %h) = fleet.memcpy(X: %hd) device="cpu"
  (Y: %y) = Relu(X: %h)
}
)";

TEST(DeviceExecutorTest, OpsRunOnTheirDeviceWithItsKernelAndAllocator) {
  TestDeviceAllocator device;
  Program p = Parse(kCopiesProgram);
  KernelTable k = TestKernels();
  ExecutorOptions options;
  options.devices = {DeviceContext{device.device(), &device, nullptr}};
  auto exec = Executor::Create(p, k, options);
  ASSERT_TRUE(exec.ok()) << exec.status();
  Scope scope;
  scope.Set("x", Values({-1, 2, -3, 4}));
  g_ran.clear();
  ASSERT_TRUE((*exec)->Run(scope).ok());
  EXPECT_EQ(g_ran, (std::vector<std::string>{"relu on cuda:0", "relu on cpu"}));
  const Tensor* y = scope.Find("y");
  ASSERT_NE(y, nullptr);
  EXPECT_TRUE(y->host_accessible());
  EXPECT_EQ(std::vector<float>(y->data<float>(), y->data<float>() + 4),
            (std::vector<float>{0, 2, 0, 4}));
  // Upload and download went through the device: x in, relu's result out (and relu's own
  // staging); the device's values were released after their last readers.
  EXPECT_EQ(device.copies_from_host, 2);
  EXPECT_EQ(device.copies_to_host, 2);
  EXPECT_EQ(device.stats().peak_bytes, 32);  // xd and hd at once
  EXPECT_EQ(device.stats().current_bytes, 0);
}

TEST(DeviceExecutorTest, KernelOutputsComeFromTheOpsAllocator) {
  // The host's context replaced: every output the kernels allocate is counted there.
  CountingHostAllocator host;
  Program p = Parse(R"(
fleet.program v1 opset=17
block 0 {
  var %x : f32[2] feed
  var %a : f32[2]
  var %b : f32[2]
  var %y : f32[2] fetch
  (Y: %a) = Relu(X: %x)
  (Y: %b) = Relu(X: %a)
  (Y: %y) = Relu(X: %b)
}
)");
  KernelTable k = TestKernels();
  ExecutorOptions options;
  options.devices = {DeviceContext{DeviceId(Device::kCpu), &host, nullptr}};
  auto exec = Executor::Create(p, k, options);
  ASSERT_TRUE(exec.ok()) << exec.status();
  Scope scope;
  scope.Set("x", Values({1, -1}));
  ASSERT_TRUE((*exec)->Run(scope).ok());
  // a, b, y are 8 bytes each; a is released once b exists, so at most two are alive.
  EXPECT_EQ(host.stats().peak_bytes, 16);
  EXPECT_EQ(host.stats().current_bytes, 8);  // y, now in the scope
  EXPECT_EQ(scope.Find("y")->buffer()->allocator(), &host);
}

TEST(DeviceExecutorTest, AnUnavailableOrMalformedDeviceFailsAtCreate) {
  TestDeviceAllocator device;
  KernelTable k = TestKernels();
  ExecutorOptions options;
  options.devices = {DeviceContext{device.device(), &device, nullptr}};
  Program p = Parse(kCopiesProgram);
  p.main().ops[1].device = "cuda:1";
  auto missing = Executor::Create(p, k, options);
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(missing.status().message()),
              HasSubstr("op 'r' (Relu): device cuda:1 is not available (have cpu, cuda:0)"));

  p.main().ops[1].device = "gpu0";
  auto malformed = Executor::Create(p, k, options);
  EXPECT_EQ(malformed.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(malformed.status().message()),
              HasSubstr("op 'r' (Relu): unknown device 'gpu0'"));

  // A context whose allocator is another device's.
  ExecutorOptions mismatched;
  mismatched.devices = {DeviceContext{DeviceId(Device::kCuda, 1), &device, nullptr}};
  auto bad_context = Executor::Create(Parse(kCopiesProgram), k, mismatched);
  EXPECT_EQ(bad_context.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(bad_context.status().message()),
              HasSubstr("the context of cuda:1 needs an allocator of that device"));

  ExecutorOptions twice = options;
  twice.devices.push_back(options.devices[0]);
  auto duplicate = Executor::Create(Parse(kCopiesProgram), k, twice);
  EXPECT_EQ(duplicate.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(duplicate.status().message()), HasSubstr("cuda:0 is given twice"));

  // The default device for ops without one.
  Program plain = Parse(R"(
fleet.program v1 opset=17
block 0 {
  var %x : f32[4] feed
  var %y : f32[4] fetch
  (Y: %y) = Relu(X: %x) name="r"
}
)");
  ExecutorOptions on_device = options;
  on_device.device = DeviceId(Device::kCuda, 0);
  auto exec = Executor::Create(plain, k, on_device);
  ASSERT_TRUE(exec.ok()) << exec.status();
  Scope scope;
  scope.Set("x", Values({1, 2, 3, 4}).Clone(&device));
  g_ran.clear();
  ASSERT_TRUE((*exec)->Run(scope).ok());
  EXPECT_EQ(g_ran, (std::vector<std::string>{"relu on cuda:0"}));
  EXPECT_EQ(scope.Find("y")->device().ToString(), "cuda:0");
}

TEST(DeviceExecutorTest, AnInputOnAnotherDeviceIsAnErrorNamingIt) {
  TestDeviceAllocator device;
  KernelTable k = TestKernels();
  ExecutorOptions options;
  options.devices = {DeviceContext{device.device(), &device, nullptr}};
  Program p = Parse(kCopiesProgram);
  p.main().ops.erase(p.main().ops.begin());  // no upload: the device Relu reads host memory
  p.main().ops[0].inputs[0].vars[0] = "x";
  auto exec = Executor::Create(p, k, options);
  ASSERT_TRUE(exec.ok()) << exec.status();
  Scope scope;
  scope.Set("x", Values({1, 2, 3, 4}));
  g_ran.clear();
  absl::Status status = (*exec)->Run(scope);
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(status.message()),
              HasSubstr("op 'r' (Relu): input 'x' is on cpu but the op runs on cuda:0"));
  EXPECT_TRUE(g_ran.empty());
}

// A device Reshape whose kernel reads the target shape on the host (KernelTraits::host_inputs).
absl::Status DeviceReshape(KernelContext& ctx) {
  const Tensor& shape = ctx.input(1);
  g_ran.push_back("reshape on " + ctx.device().device.ToString());
  const int64_t* dims = shape.data<int64_t>();  // host memory, as declared
  ctx.SetOutput(0, ctx.input(0).Reshaped(std::vector<int64_t>(dims, dims + shape.numel())));
  return absl::OkStatus();
}

constexpr char kHostShapeProgram[] = R"(
fleet.program v1 opset=17
block 0 {
  var %x : f32[4] feed
  var %s : i64[2] feed
  var %xd : f32[4]
  var %sd : i64[2]
  var %y : f32[2,2] fetch
  (Out: %xd) = fleet.memcpy(X: %x) device="cuda:0"
  (Out: %sd) = fleet.memcpy(X: %s) device="cuda:0"
  (reshaped: %y) = Reshape(data: %xd, shape: %s) name="r" device="cuda:0"
}
)";

TEST(DeviceExecutorTest, AHostInputIsReadFromHostMemoryAndOnlyFromThere) {
  TestDeviceAllocator device;
  KernelTable k = TestKernels();
  k.AddAnyType("Reshape", Device::kCuda, &DeviceReshape, 0);
  KernelTraits traits = KernelTraits::Aliases({{0, 0}});
  traits.host_inputs = {1};
  k.SetTraits("Reshape", Device::kCuda, traits);
  ExecutorOptions options;
  options.devices = {DeviceContext{device.device(), &device, nullptr}};
  Tensor shape(DataType::kI64, {2});
  shape.data<int64_t>()[0] = 2;
  shape.data<int64_t>()[1] = 2;

  // The shape stays on the host while the data is on the device: accepted.
  auto exec = Executor::Create(Parse(kHostShapeProgram), k, options);
  ASSERT_TRUE(exec.ok()) << exec.status();
  Scope scope;
  scope.Set("x", Values({1, 2, 3, 4}));
  scope.Set("s", shape);
  g_ran.clear();
  ASSERT_TRUE((*exec)->Run(scope).ok());
  EXPECT_EQ(g_ran, (std::vector<std::string>{"reshape on cuda:0"}));
  const Tensor* y = scope.Find("y");
  ASSERT_NE(y, nullptr);
  EXPECT_EQ(y->shape(), (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(y->device().ToString(), "cuda:0");

  // The shape uploaded to the device: the kernel could not read it, so the op never runs.
  Program uploaded = Parse(kHostShapeProgram);
  uploaded.main().ops[2].inputs[1].vars[0] = "sd";
  auto on_device = Executor::Create(uploaded, k, options);
  ASSERT_TRUE(on_device.ok()) << on_device.status();
  g_ran.clear();
  absl::Status status = (*on_device)->Run(scope);
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(status.message()),
              HasSubstr("op 'r' (Reshape): input 'sd' is on cuda:0 but the kernel on cuda:0 "
                        "reads it on the host"));
  EXPECT_TRUE(g_ran.empty());

  // Without the declaration a host shape is an input on the wrong device, as for any kernel.
  k.SetTraits("Reshape", Device::kCuda, KernelTraits::Aliases({{0, 0}}));
  auto undeclared = Executor::Create(Parse(kHostShapeProgram), k, options);
  ASSERT_TRUE(undeclared.ok()) << undeclared.status();
  status = (*undeclared)->Run(scope);
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(status.message()),
              HasSubstr("op 'r' (Reshape): input 's' is on cpu but the op runs on cuda:0"));
}

}  // namespace
}  // namespace fleet
