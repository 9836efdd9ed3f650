// Numbers for insert-memcpy: a program with ops on a device computes, after the pass, what the
// same program computes on the host, with the copies going through the device (a test device
// whose memory the host cannot read directly, tests/executor/test_device.h).
#include <random>

#include "executor/executor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kernels/cpu/register.h"
#include "passes/pass_manager.h"
#include "passes/registry.h"
#include "tests/executor/test_device.h"
#include "tests/passes/test_programs.h"

namespace fleet {
namespace {

using testing::TestDeviceAllocator;
using testing_util::ParseOrDie;

// h = Relu(x W) and s = h + h on the device; y = Sigmoid(s) on the host.
constexpr char kProgram[] = R"(fleet.program v1 opset=17
block 0 {
  var %x : f32[4,3] feed
  var %w : f32[3,5] persistable
  var %a : f32[4,5]
  var %h : f32[4,5]
  var %s : f32[4,5]
  var %y : f32[4,5] fetch
  (Y: %a) = MatMul(A: %x, B: %w)
  (Y: %h) = Relu(X: %a) device="cuda:0"
  (C: %s) = Add(A: %h, B: %h) device="cuda:0"
  (Y: %y) = Sigmoid(X: %s)
}
)";

// The test device's kernels: they stage through the host with the device's copy functions.
Tensor ToHost(const Tensor& t) { return t.Clone(CpuAllocator()); }
void FromHost(KernelContext& ctx, const Tensor& host) {
  Tensor* out = ctx.Output(0, host.dtype(), host.shape());
  ctx.device().allocator->CopyFromHost(out->raw_data(), host.raw_data(), host.nbytes());
}
absl::Status DeviceRelu(KernelContext& ctx) {
  Tensor x = ToHost(ctx.input(0));
  for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = std::max(0.f, x.data<float>()[i]);
  FromHost(ctx, x);
  return absl::OkStatus();
}
absl::Status DeviceAdd(KernelContext& ctx) {
  Tensor a = ToHost(ctx.input(0));
  Tensor b = ToHost(ctx.input(1));
  for (int64_t i = 0; i < a.numel(); ++i) a.data<float>()[i] += b.data<float>()[i];
  FromHost(ctx, a);
  return absl::OkStatus();
}
absl::Status DeviceMemcpy(KernelContext& ctx) {
  ctx.SetOutput(0, ctx.input(0).Clone(ctx.device().allocator));
  return absl::OkStatus();
}

TEST(InsertMemcpyTest, DevicePlacedProgramComputesWhatTheHostProgramComputes) {
  Program host_program = ParseOrDie(kProgram);
  for (Op& op : host_program.main().ops) op.device.clear();
  Program placed = ParseOrDie(kProgram);
  PassRegistry registry = PassRegistry::WithBuiltins();
  PassManager pm;
  ASSERT_TRUE(pm.AddPipeline("insert-memcpy", registry).ok());
  PassContext pass_ctx;
  absl::StatusOr<bool> changed = pm.Run(placed, pass_ctx);
  ASSERT_TRUE(changed.ok()) << changed.status();
  EXPECT_TRUE(*changed);
  int copies = 0;
  for (const Op& op : placed.main().ops) copies += op.type == "fleet.memcpy";
  EXPECT_EQ(copies, 2);  // a up, s down

  KernelTable kernels;
  RegisterCpuKernels(kernels);
  kernels.Add("Relu", Device::kCuda, {DataType::kF32}, &DeviceRelu);
  kernels.Add("Add", Device::kCuda, {DataType::kF32}, &DeviceAdd);
  kernels.AddAnyType("fleet.memcpy", Device::kCuda, &DeviceMemcpy, 0);
  kernels.SetTraits("fleet.memcpy", Device::kCuda, kernels.Traits("fleet.memcpy", Device::kCpu));
  TestDeviceAllocator device;
  ExecutorOptions options;
  options.devices = {DeviceContext{device.device(), &device, nullptr}};
  auto on_host = Executor::Create(host_program, kernels);
  auto on_device = Executor::Create(placed, kernels, options);
  ASSERT_TRUE(on_host.ok()) << on_host.status();
  ASSERT_TRUE(on_device.ok()) << on_device.status();
  // The program as written, without the copies, is refused when it runs.
  auto unplaced = Executor::Create(ParseOrDie(kProgram), kernels, options);
  ASSERT_TRUE(unplaced.ok()) << unplaced.status();

  std::mt19937 rng(7);
  std::uniform_real_distribution<float> dist(-1, 1);
  for (int step = 0; step < 2; ++step) {
    Tensor x(DataType::kF32, {4, 3});
    Tensor w(DataType::kF32, {3, 5});
    for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = dist(rng);
    for (int64_t i = 0; i < w.numel(); ++i) w.data<float>()[i] = dist(rng);
    Scope a, b, c;
    for (Scope* s : {&a, &b, &c}) {
      s->Set("x", x);
      s->Set("w", w);
    }
    ASSERT_TRUE((*on_host)->Run(a).ok());
    ASSERT_TRUE((*on_device)->Run(b).ok());
    const Tensor* want = a.Find("y");
    const Tensor* got = b.Find("y");
    ASSERT_TRUE(want != nullptr && got != nullptr);
    EXPECT_TRUE(got->host_accessible());
    for (int64_t i = 0; i < want->numel(); ++i) {
      EXPECT_EQ(got->data<float>()[i], want->data<float>()[i]) << i;
    }
    absl::Status refused = (*unplaced)->Run(c);
    EXPECT_EQ(refused.code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_THAT(std::string(refused.message()), ::testing::HasSubstr("input 'a' is on cpu"));
  }
  EXPECT_EQ(device.copies_from_host, 2 * 3);  // per step: the upload, Relu's and Add's results
  EXPECT_EQ(device.stats().current_bytes, 0);
}

}  // namespace
}  // namespace fleet
